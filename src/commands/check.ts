/**
 * `check`: fetch and verify the manifest and say what `update` would do. The only change on
 * disk is the accepted manifest record (so a later rollback of the serial is caught).
 */
import { readState, writeState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { fetchTrustedManifest, rememberManifest } from './manifest-source.ts';
import type { Action, HeldBack } from '../plan/plan.ts';
import { heldBackLine } from './held-back-text.ts';
import { recordAccepted } from '../plan/state-ops.ts';
import { planFor, planHostOf, selectTargets } from './selection.ts';

export interface CheckReport {
  manifest: { serial: number; expires: string; url: string };
  /** This host as the compatibility rules see it (PRODUCT.md section 3.1). */
  host: {
    id: string | null;
    versionId: string | null;
    architecture: string | null;
    systemd: string | null;
    osRelease: string;
    machineId: boolean;
  };
  extensions: Record<
    string,
    {
      kind: string | null;
      current: string | null;
      /** The newest version this host would take: compatible, in its rollout, not quarantined, the pin. */
      available: string | null;
      /** The newest version published, whether this host takes it or not. */
      newest: string | null;
      action: Action;
      /** What the action means when it is not obvious (keep-current: why the current one stays). */
      note: string | null;
      /** Versions newer than `available` this host does not take, and why (quarantine: reason, date). */
      heldBack: HeldBack[];
      skippedQuarantined: string[];
      /** Why the current version can no longer be merged here (after an OS update). */
      currentIncompatible: string | null;
    }
  >;
}

export async function runCheck(ctx: AgentContext): Promise<CheckReport> {
  const state = await readState(ctx.paths.stateFile);
  const source = await ctx.ports.openSource(ctx.config.network);
  let manifest;
  try {
    manifest = await fetchTrustedManifest(ctx, source, state);
  } finally {
    await source.close();
  }
  const { items, facts } = await planFor(
    planHostOf(ctx),
    state,
    manifest.payload,
    selectTargets(ctx, []),
  );
  if (!manifest.notModified) {
    recordAccepted(state, manifest.payload, ctx.now(), manifest.payloadSha256);
    await writeState(ctx.paths.stateFile, state);
    await rememberManifest(ctx, manifest);
  }
  const extensions: CheckReport['extensions'] = {};
  for (const i of items) {
    extensions[i.name] = {
      kind: i.kind,
      current: i.current,
      available: i.target,
      newest: i.newest,
      action: i.action,
      note: i.note,
      heldBack: i.heldBack,
      skippedQuarantined: i.skippedQuarantined,
      currentIncompatible: i.currentIncompatible,
    };
  }
  return {
    manifest: {
      serial: manifest.payload.serial,
      expires: manifest.payload.expires,
      url: manifest.baseUrl,
    },
    host: {
      id: facts.release?.osRelease.ID ?? null,
      versionId: facts.release?.osRelease.VERSION_ID ?? null,
      architecture: facts.release?.architecture ?? null,
      systemd: facts.release ? String(facts.release.systemdVersion) : null,
      osRelease: facts.osReleaseSource,
      machineId: facts.machineId !== null,
    },
    extensions,
  };
}

function availableText(e: CheckReport['extensions'][string]): string {
  const notes: string[] = [];
  if (e.action === 'keep-current') notes.push('older than current');
  if (e.newest !== null && e.newest !== e.available) {
    const held = e.heldBack.some((h) => h.version === e.newest);
    notes.push(`newest published ${e.newest}${held ? ' is held back' : ''}`);
  }
  return `${e.available ?? '-'}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

export function formatCheck(report: CheckReport): string {
  const { manifest, host } = report;
  return [
    `manifest serial ${manifest.serial} from ${manifest.url}, expires ${manifest.expires}`,
    host.systemd === null
      ? `host: ${host.osRelease}; compatibility is not checked`
      : `host: ID=${host.id ?? '-'} VERSION_ID=${host.versionId ?? '-'} ARCHITECTURE=${host.architecture}, systemd ${host.systemd}`,
    ...Object.entries(report.extensions).flatMap(([n, e]) => [
      `${n}: current ${e.current ?? '-'}, available ${availableText(e)}, action ${e.action}`,
      ...(e.note ? [`  ${e.note}`] : []),
      ...(e.currentIncompatible
        ? [`  current ${e.current} no longer fits this host: ${e.currentIncompatible}`]
        : []),
      ...e.heldBack.map((h) => heldBackLine(n, h, e.current)),
    ]),
  ].join('\n');
}
