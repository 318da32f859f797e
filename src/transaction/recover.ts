/**
 * `recover` (PRODUCT.md promise 2), run first by every command and at boot: finishes or undoes
 * a transaction interrupted by a crash, from the journal alone, by interpreting the same step
 * description as the run that was cut off (`./steps.ts` recoveryOf). Leftover temp files of
 * interrupted atomic writes are removed too. When a step cannot be done (systemd still fails),
 * the journal stays and the error is ROLLBACK_FAILED (exit 4): the next run tries again.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { isTempName } from '../store/layout.ts';
import { loadState } from '../store/rebuild.ts';
import type { TxEnv, TxPorts } from './env.ts';
import { readJournal, type Journal } from './journal.ts';
import { commit, finishBack, runAll } from './run.ts';
import { recoveryOf } from './steps.ts';

export interface RecoverReport {
  recovered: boolean;
  command?: string;
  phase?: string;
  step?: string;
  outcome?: 'undone' | 'rolled-back' | 'completed';
  tempFilesRemoved: number;
}

async function removeTemps(dir: string): Promise<number> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  const temps = entries.filter(isTempName);
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

function envFor(paths: HostPaths, log: Logger, journal: Journal, ports: TxPorts): TxEnv {
  return {
    paths,
    log,
    refresh: journal.refresh,
    rootOption: journal.root === null ? undefined : paths.root,
    sidecars: journal.sidecars,
    now: () => new Date(),
    systemd: ports.systemd,
    health: ports.health,
    // Recovery never runs new health checks: it only returns to, or completes, proven states.
    healthOf: () => undefined,
    ...(ports.onStep ? { onStep: ports.onStep } : {}),
  };
}

const OUTCOME = { forward: 'undone', back: 'rolled-back', commit: 'completed' } as const;

async function finish(env: TxEnv, journal: Journal): Promise<void> {
  const plan = recoveryOf(journal);
  const state = await loadState(env.paths, env.log);
  const interruptedAt = journal.step;
  const failed = await runAll(env, journal, plan.steps);
  if (plan.finish === 'success' && failed.length === 0) return commit(env, state, journal);
  const why =
    plan.finish === 'success'
      ? failed.join('; ')
      : await finishBack(env, state, journal, plan.finish, failed, interruptedAt);
  if (why)
    throw new AgentError(
      'ROLLBACK_FAILED',
      `recovery of the interrupted ${journal.command} could not finish: ${why}; the journal is kept and the next run tries again`,
    );
}

export async function recover(
  paths: HostPaths,
  log: Logger,
  ports: TxPorts,
): Promise<RecoverReport> {
  const tempFilesRemoved = await cleanTemps(paths);
  const journal = await readJournal(paths);
  if (!journal) {
    await loadState(paths, log);
    return { recovered: false, tempFilesRemoved };
  }
  log.warn(
    { command: journal.command, phase: journal.phase, step: journal.step },
    'recovering an interrupted transaction',
  );
  const report = {
    recovered: true,
    command: journal.command,
    phase: journal.phase,
    step: journal.step,
    tempFilesRemoved,
    outcome: OUTCOME[journal.phase],
  };
  await finish(envFor(paths, log, journal, ports), journal);
  return report;
}
