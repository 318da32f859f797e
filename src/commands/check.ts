/**
 * `check`: fetch and verify the manifest and say what `update` would do. The only change on
 * disk is the accepted manifest record (so a later rollback of the serial is caught).
 */
import { readState, writeState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { fetchTrustedManifest, rememberManifest } from './manifest-source.ts';
import type { HeldBack } from '../plan/plan.ts';
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
      available: string | null;
      action: string;
      /** Versions newer than `available` that this host does not take, and why. */
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
