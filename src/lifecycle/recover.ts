/**
 * `recover` (PRODUCT.md promise 2), run first by every command and at boot: finishes or undoes
 * a transaction interrupted by a crash, from the journal alone.
 *   forward  the new versions were not proven: switch every entry back to `from`, state as before;
 *   back     a failure was being rolled back: finish it, quarantine what failed;
 *   commit   everything was proven: switch every entry to `to` again and record success.
 * Leftover temp files of interrupted atomic writes are removed too.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { loadState } from '../store/rebuild.ts';
import { writeState } from '../store/state.ts';
import { applyInterrupted } from './effects.ts';
import { endJournal, readJournal, type Journal } from './journal.ts';
import { purgeRemoved } from './remove.ts';
import { commit, refreshKinds, revertAndRecord, setActive, type TxEnv } from './transaction.ts';

export interface RecoverReport {
  recovered: boolean;
  command?: string;
  phase?: string;
  step?: string;
  outcome?: 'undone' | 'rolled-back' | 'completed';
  tempFilesRemoved: number;
}

const TEMP = /^\..+\.tmp$/;

async function removeTemps(dir: string): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  const temps = entries.filter((e) => TEMP.test(e));
  for (const t of temps) await rm(join(dir, t), { force: true });
  return temps.length;
}

async function cleanTemps(paths: HostPaths): Promise<number> {
  let count = 0;
  for (const dir of [paths.sysextDir, paths.confextDir, paths.stateDir, paths.partialDir])
    count += await removeTemps(dir);
  const stores = await readdir(paths.imagesDir).catch(() => [] as string[]);
  for (const s of stores) count += await removeTemps(join(paths.imagesDir, s));
  return count;
}

function envFor(paths: HostPaths, log: Logger, journal: Journal): TxEnv {
  return {
    paths,
    log,
    refresh: journal.refresh,
    rootOption: journal.root === null ? undefined : paths.root,
    sidecars: journal.sidecars,
    now: () => new Date(),
    // Recovery never runs new health checks: it only returns to, or completes, proven states.
    health: () => undefined,
  };
}

async function undoForward(env: TxEnv, journal: Journal): Promise<void> {
  const state = await loadState(env.paths, env.log);
  for (const m of journal.moves) await setActive(env, m, m.from);
  const refreshError = env.refresh ? await refreshKinds(env, journal.moves) : null;
  applyInterrupted(state, journal, env.now());
  await writeState(env.paths.stateFile, state);
  await endJournal(env.paths);
  if (refreshError)
    throw new AgentError(
      'ROLLBACK_FAILED',
      `recovery switched back, but refresh failed: ${refreshError}`,
    );
}

async function completeCommit(env: TxEnv, journal: Journal): Promise<void> {
  const state = await loadState(env.paths, env.log);
  for (const m of journal.moves) await setActive(env, m, m.to);
  const refreshError = env.refresh ? await refreshKinds(env, journal.moves) : null;
  await commit(env, state, journal);
  if (journal.command === 'remove')
    await purgeRemoved(
      env.paths,
      journal.moves.map((m) => m.name),
    );
  if (refreshError)
    throw new AgentError(
      'ROLLBACK_FAILED',
      `recovery completed the switch, but refresh failed: ${refreshError}`,
    );
}

export async function recover(paths: HostPaths, log: Logger): Promise<RecoverReport> {
  const tempFilesRemoved = await cleanTemps(paths);
  const journal = await readJournal(paths);
  if (!journal) {
    await loadState(paths, log);
    return { recovered: false, tempFilesRemoved };
  }
  const env = envFor(paths, log, journal);
  const base = {
    recovered: true,
    command: journal.command,
    phase: journal.phase,
    step: journal.step,
    tempFilesRemoved,
  };
  log.warn(
    { command: journal.command, phase: journal.phase, step: journal.step },
    'recovering an interrupted transaction',
  );
  if (journal.phase === 'forward') {
    await undoForward(env, journal);
    return { ...base, outcome: 'undone' };
  }
  if (journal.phase === 'commit') {
    await completeCommit(env, journal);
    return { ...base, outcome: 'completed' };
  }
  const rollbackFailed = await revertAndRecord(env, await loadState(paths, log), journal);
  if (rollbackFailed)
    throw new AgentError(
      'ROLLBACK_FAILED',
      `recovery could not complete the rollback: ${rollbackFailed}`,
    );
  return { ...base, outcome: 'rolled-back' };
}
