/**
 * `rescue`: systemd merges extensions all or none, so one entry that cannot be set up (random
 * bytes, a torn or hand-placed file) leaves the host with nothing merged, the agent included.
 * Rescue finds such entries by trial merges in throw-away namespaces (the host is never merged
 * here) and takes them out of the agent's extension directories: its own versions are
 * quarantined and replaced by a stored stand-in or deactivated (`../rescue/managed.ts`), anything
 * else is moved aside, never deleted (`../rescue/move.ts`). Needs no configuration: it runs at
 * boot, from the OnFailure= of systemd-sysext.service, before anything else could.
 */
import { join } from 'node:path';
import { extensionDir } from '../config/paths.ts';
import { AgentError, exitCodeFor, type AgentErrorCode } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { describeRescued, type Rescued } from '../rescue/describe.ts';
import { listEntries, trialFiles } from '../rescue/entries.ts';
import { rescueManaged, type RescueEnv } from '../rescue/managed.ts';
import { moveAside } from '../rescue/move.ts';
import { managedVersion, type FoundEntry } from '../rescue/plan.ts';
import { toolFor } from '../systemd/port.ts';
import { searchDirs } from '../systemd/search-path.ts';

export type KindOutcome = 'merges' | 'rescued' | 'still-failing' | 'no-tool';

export interface RescueReport {
  exitCode: number;
  rescued: Rescued[];
  /** Every kind whose tool is installed merges now (in a trial). */
  mergeOk: boolean;
  kinds: Partial<Record<ExtensionKind, KindOutcome>>;
  error?: { code: AgentErrorCode; message: string };
}

const KINDS: readonly ExtensionKind[] = ['sysext', 'confext'];

async function rescueEntry(env: RescueEnv, entry: FoundEntry, reason: string): Promise<Rescued> {
  const version = managedVersion(env.paths, entry);
  if (version !== null) return rescueManaged(env, entry, version, reason);
  const [movedTo, ...sidecars] = await moveAside(env.paths, entry);
  return {
    kind: entry.kind,
    name: entry.name,
    entry: join(entry.dir, entry.file),
    action: 'moved',
    movedTo: movedTo as string,
    ...(sidecars.length > 0 ? { sidecarsMovedTo: sidecars } : {}),
    reason,
  };
}

/** Entries outside the agent's directory that do not merge alone: named, never touched. */
async function culpritsElsewhere(env: RescueEnv, kind: ExtensionKind, hidden: string[]) {
  const own = extensionDir(env.paths, kind);
  const found: string[] = [];
  for (const dir of hidden.filter((d) => d !== own)) {
    for (const entry of await listEntries(dir, kind)) {
      const files = await trialFiles(entry, hidden);
      const t = await env.systemd.trialMerge({ kind, root: env.rootOption, only: { dir, files } });
      if (!t.ok) found.push(`${join(dir, entry.file)} (${t.detail})`);
    }
  }
  return found;
}

interface KindResult {
  outcome: KindOutcome;
  rescued: Rescued[];
  moveFailures: string[];
  stillFailing?: string;
}

async function rescueKind(env: RescueEnv, kind: ExtensionKind): Promise<KindResult> {
  const tool = toolFor(kind);
  const target = { kind, root: env.rootOption };
  const none = { rescued: [], moveFailures: [] };
  if (!(await env.systemd.hasTool(kind))) return { outcome: 'no-tool', ...none };
  const first = await env.systemd.trialMerge(target);
  if (first.ok) return { outcome: 'merges', ...none };
  env.log.info({ kind, reason: first.detail }, `${tool} cannot merge: trying each entry alone`);
  const dir = extensionDir(env.paths, kind);
  const hidden = [...new Set([...searchDirs(kind).map((d) => join(env.paths.root, d)), dir])];
  // With nothing to merge the tool must succeed: else the trials say nothing about the entries.
  const control = await env.systemd.trialMerge({ ...target, only: { dir, files: [] } });
  if (!control.ok)
    throw new AgentError(
      'UNSUPPORTED',
      `trial merges do not work here: ${tool} fails even with no extension at all (${control.detail}); nothing was changed`,
    );
  const rescued: Rescued[] = [];
  const moveFailures: string[] = [];
  for (const entry of await listEntries(dir, kind)) {
    const files = await trialFiles(entry, hidden);
    const alone = await env.systemd.trialMerge({ ...target, only: { dir, files } });
    if (alone.ok) continue;
    try {
      const r = await rescueEntry(env, entry, alone.detail);
      env.log.warn({ kind, entry: r.entry, action: r.action }, describeRescued(r));
      rescued.push(r);
    } catch (err) {
      if (!(err instanceof AgentError) || err.code !== 'RESCUE_MOVE_FAILED') throw err;
      env.log.error(err.message);
      moveFailures.push(err.message);
    }
  }
  const after = await env.systemd.trialMerge(target);
  if (after.ok) return { outcome: 'rescued', rescued, moveFailures };
  const elsewhere = await culpritsElsewhere(env, kind, hidden);
  const them = elsewhere.length > 1 ? 'them' : 'it';
  const stillFailing =
    elsewhere.length > 0
      ? `${tool} still cannot merge after rescue: ${elsewhere.join('; ')} cannot be merged, outside ${dir} where rescue touches nothing; fix or remove ${them}, then run ${tool} refresh`
      : `${tool} still cannot merge after rescue (${after.detail}), though no entry fails alone; look at ${hidden.join(', ')}, then run ${tool} refresh`;
  return { outcome: 'still-failing', rescued, moveFailures, stillFailing };
}

export async function runRescue(env: RescueEnv): Promise<RescueReport> {
  const report: RescueReport = { exitCode: 0, rescued: [], mergeOk: true, kinds: {} };
  const moveFailures: string[] = [];
  const still: string[] = [];
  for (const kind of KINDS) {
    const r = await rescueKind(env, kind);
    report.kinds[kind] = r.outcome;
    report.rescued.push(...r.rescued);
    moveFailures.push(...r.moveFailures);
    if (r.stillFailing) still.push(r.stillFailing);
  }
  report.mergeOk = still.length === 0;
  // A move that failed names the entry still in the way; it explains the failing merge too.
  const error: RescueReport['error'] =
    moveFailures.length > 0
      ? { code: 'RESCUE_MOVE_FAILED', message: moveFailures.join('; ') }
      : still.length > 0
        ? { code: 'RESCUE_INCOMPLETE', message: still.join('; ') }
        : undefined;
  if (error) {
    report.error = error;
    report.exitCode = exitCodeFor(error.code);
  }
  return report;
}
