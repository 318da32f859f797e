/**
 * `status` (PRODUCT.md section 5): state and store, no network. With a manifest accepted
 * earlier (the cached copy), also what this host holds back of it and why, and whether the
 * current version still fits this host (after an OS update it may not).
 */
import type { HostPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { activeVersion } from '../store/activation.ts';
import { listStored } from '../store/images.ts';
import { readState, type AgentState } from '../store/state.ts';
import { rebuildState } from '../store/rebuild.ts';
import { AgentError } from '../errors.ts';
import { payloadOfEnvelope } from '../manifest/trust.ts';
import type { HeldBack, PlanItem } from '../plan/plan.ts';
import { readManifestCache } from '../store/manifest-cache.ts';
import type { SystemdPort } from '../systemd/port.ts';
import { planFor, type PlanHost } from './selection.ts';
import { heldBackLine, quarantineLine } from './held-back-text.ts';

export interface StatusReport {
  extensions: Record<
    string,
    {
      kind: string | null;
      current: string | null;
      previous: string | null;
      active: string | null;
      installed: string[];
      quarantined: string[];
      quarantine: { version: string; reason: string; at: string }[];
      interrupted: Record<string, number>;
      configured: boolean;
      lastResult: AgentState['extensions'][string]['lastResult'];
      /** Newer versions of the last accepted manifest this host does not take, and why. */
      heldBack: HeldBack[];
      /** Why the current version no longer fits this host, or null. */
      currentIncompatible: string | null;
      /** keep-current: why the current version stays though the newest offered is older. */
      note: string | null;
    }
  >;
  manifest: { serial: number | null; expires: string | null; acceptedAt: string | null };
}

/** The plan against the last accepted manifest (no network); empty without one. */
async function lastPlan(
  where: PlanHost,
  state: AgentState,
  names: string[],
): Promise<Map<string, PlanItem>> {
  const cache = await readManifestCache(where.paths);
  if (!cache) return new Map();
  let payload;
  try {
    payload = payloadOfEnvelope(cache.bytes);
  } catch {
    return new Map();
  }
  const { items } = await planFor(where, state, payload, {
    names,
    named: false,
    explicit: new Map(),
  });
  return new Map(items.map((i) => [i.name, i]));
}

export async function collectStatus(
  paths: HostPaths,
  config: Config | null,
  systemd: SystemdPort,
): Promise<StatusReport> {
  const state = await readState(paths.stateFile).catch(async (err: unknown) => {
    if (err instanceof AgentError && err.code === 'STATE_CORRUPT') return rebuildState(paths);
    throw err;
  });
  const names = new Set([
    ...Object.keys(config?.extensions ?? {}),
    ...Object.keys(state.extensions),
  ]);
  const planned = await lastPlan({ paths, config, systemd }, state, [...names]);
  const extensions: StatusReport['extensions'] = {};
  for (const name of [...names].sort()) {
    const ext = state.extensions[name];
    const item = planned.get(name);
    extensions[name] = {
      kind: ext?.kind ?? null,
      current: ext?.current ?? null,
      previous: ext?.previous ?? null,
      active: ext ? await activeVersion(paths, ext.kind, name) : null,
      installed: await listStored(paths, name),
      quarantined: (ext?.quarantined ?? []).map((q) => q.version),
      quarantine: ext?.quarantined ?? [],
      interrupted: ext?.interrupted ?? {},
      configured: config ? Object.hasOwn(config.extensions, name) : true,
      lastResult: ext?.lastResult ?? null,
      heldBack: item?.heldBack ?? [],
      currentIncompatible: item?.currentIncompatible ?? null,
      note: item?.note ?? null,
    };
  }
  return {
    extensions,
    manifest: {
      serial: state.manifest?.serial ?? null,
      expires: state.manifest?.expires ?? null,
      acceptedAt: state.manifest?.acceptedAt ?? null,
    },
  };
}

export function formatStatus(report: StatusReport): string {
  const lines = [
    `manifest: serial ${report.manifest.serial ?? 'none'}, expires ${report.manifest.expires ?? 'n/a'}`,
  ];
  for (const [name, e] of Object.entries(report.extensions)) {
    lines.push(
      `${name} (${e.kind ?? 'not installed'}): current ${e.current ?? '-'}, previous ${e.previous ?? '-'}, installed [${e.installed.join(', ')}]`,
    );
    if (e.note) lines.push(`  ${e.note}`);
    for (const q of e.quarantine) lines.push(quarantineLine(name, q, e.current));
    for (const [v, count] of Object.entries(e.interrupted))
      lines.push(`  ${v} was interrupted ${count} time(s) while being merged or health-checked`);
    if (e.currentIncompatible)
      lines.push(`  current ${e.current} no longer fits this host: ${e.currentIncompatible}`);
    // Quarantined versions are listed above, with their reason and date.
    for (const h of e.heldBack.filter((x) => x.cause !== 'quarantined'))
      lines.push(heldBackLine(name, h, e.current));
    if (e.lastResult)
      lines.push(
        `  last ${e.lastResult.action} ${e.lastResult.ok ? 'ok' : 'FAILED'} at ${e.lastResult.at}${e.lastResult.message ? `: ${e.lastResult.message}` : ''}`,
      );
  }
  return lines.join('\n');
}
