/** `status` (PRODUCT.md section 5): state and store, no network. */
import type { HostPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { activeVersion } from '../store/activation.ts';
import { listStored } from '../store/images.ts';
import { readState, type AgentState } from '../store/state.ts';
import { rebuildState } from '../store/rebuild.ts';
import { AgentError } from '../errors.ts';

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
    }
  >;
  manifest: { serial: number | null; expires: string | null; acceptedAt: string | null };
}

export async function collectStatus(
  paths: HostPaths,
  config: Config | null,
): Promise<StatusReport> {
  const state = await readState(paths.stateFile).catch(async (err: unknown) => {
    if (err instanceof AgentError && err.code === 'STATE_CORRUPT') return rebuildState(paths);
    throw err;
  });
  const names = new Set([
    ...Object.keys(config?.extensions ?? {}),
    ...Object.keys(state.extensions),
  ]);
  const extensions: StatusReport['extensions'] = {};
  for (const name of [...names].sort()) {
    const ext = state.extensions[name];
    extensions[name] = {
      kind: ext?.kind ?? null,
      current: ext?.current ?? null,
      previous: ext?.previous ?? null,
      active: ext ? await activeVersion(paths, ext.kind, name) : null,
      installed: await listStored(paths, name),
      quarantined: (ext?.quarantined ?? []).map((q) => q.version),
      quarantine: ext?.quarantined ?? [],
      interrupted: ext?.interrupted ?? {},
      configured: config ? name in config.extensions : true,
      lastResult: ext?.lastResult ?? null,
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
    for (const q of e.quarantine) lines.push(`  quarantined ${q.version}: ${q.reason}`);
    if (e.lastResult)
      lines.push(
        `  last ${e.lastResult.action} ${e.lastResult.ok ? 'ok' : 'FAILED'} at ${e.lastResult.at}${e.lastResult.message ? `: ${e.lastResult.message}` : ''}`,
      );
  }
  return lines.join('\n');
}
