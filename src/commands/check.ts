/**
 * `check`: fetch and verify the manifest and say what `update` would do. The only change on
 * disk is the accepted manifest record (so a later rollback of the serial is caught).
 */
import { readState, writeState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { fetchTrustedManifest, rememberManifest } from './manifest-source.ts';
import { plan } from '../plan/plan.ts';
import { currentVersion, quarantinedVersions, recordAccepted } from '../plan/state-ops.ts';

export interface CheckReport {
  manifest: { serial: number; expires: string; url: string };
  extensions: Record<
    string,
    {
      kind: string | null;
      current: string | null;
      available: string | null;
      action: string;
      skippedQuarantined: string[];
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
  const items = plan({
    names: Object.keys(ctx.config.extensions),
    manifest: manifest.payload,
    current: (n) => currentVersion(state, n),
    quarantined: (n) => quarantinedVersions(state, n),
  });
  if (!manifest.notModified) {
    recordAccepted(state, manifest.payload, ctx.now());
    await writeState(ctx.paths.stateFile, state);
    await rememberManifest(ctx, manifest);
  }
  const extensions: CheckReport['extensions'] = {};
  for (const i of items) {
    extensions[i.name] = {
      kind: i.kind,
      current: i.current,
      available: i.target,
      action: i.action,
      skippedQuarantined: i.skippedQuarantined,
    };
  }
  return {
    manifest: {
      serial: manifest.payload.serial,
      expires: manifest.payload.expires,
      url: manifest.baseUrl,
    },
    extensions,
  };
}
