/**
 * Interprets the transaction description (`./steps.ts`): journal each step before doing it,
 * run the forward steps, and on any failure (a problem reported, an exception, a step that
 * cannot start) go back. The transaction is total: after `begin` nothing escapes as an
 * exception except a failure to record success, so its outcome is always true to the exit
 * code (PRODUCT.md section 5): ok; failed and back at `from`, proven (3); or the way back itself
 * failed, with the journal left for `recover` (4).
 */
import { AgentError } from '../errors.ts';
import { applyFailure, applyInterrupted, applySuccess } from '../plan/effects.ts';
import { checkActivation } from '../store/activation.ts';
import { deleteExtensionFiles, listStored } from '../store/images.ts';
import { writeState, type AgentState } from '../store/state.ts';
import { requireTools } from '../systemd/proof.ts';
import { hasSidecars, perform, scopeOf, type Problems } from './actions.ts';
import type { TxEnv } from './env.ts';
import { endJournal, journalStep, type Command, type Journal, type Move } from './journal.ts';
import { backSteps, forwardSteps, type Finish, type Step } from './steps.ts';

export interface TxOutcome {
  ok: boolean;
  failures: Record<string, string>;
  /** Why the forward steps failed: MERGE_FAILED or HEALTH_FAILED. */
  code?: NonNullable<Journal['failureCode']>;
  /** Why the way back failed; the journal is left for `recover`. */
  rollbackFailed?: string;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function record(env: TxEnv, journal: Journal, step: string): Promise<void> {
  await journalStep(env.paths, journal, step);
  await env.onStep?.(step);
}

/** The same failure for each extension a step concerns. */
function failedFor(names: readonly string[], step: string, err: unknown): Problems {
  const what = messageOf(err);
  return Object.fromEntries(names.map((n) => [n, `${n}: ${step} failed: ${what}`]));
}

function fail(journal: Journal, problems: Problems, health: boolean): void {
  journal.failures = problems;
  journal.failureCode = health ? 'HEALTH_FAILED' : 'MERGE_FAILED';
}

async function forward(env: TxEnv, journal: Journal): Promise<void> {
  try {
    // `begin` is already on disk (so a failure here goes back); only the test hook runs for it.
    await env.onStep?.('begin');
  } catch (err) {
    return fail(
      journal,
      failedFor(
        journal.moves.map((m) => m.name),
        'begin',
        err,
      ),
      false,
    );
  }
  for (const step of forwardSteps(journal)) {
    let problems: Problems;
    try {
      await record(env, journal, step.id);
      problems = await perform(env, journal, step.action);
      if (step.action.op === 'switch')
        env.log.info({ name: step.action.name, step: step.id }, 'activation switched');
    } catch (err) {
      problems = failedFor(scopeOf(journal, step.action), step.id, err);
    }
    if (Object.keys(problems).length > 0)
      return fail(journal, problems, step.action.op === 'health');
  }
}

function versionOf(v: string | null): string {
  return v ?? 'none (inactive)';
}

/** What an undo or replay step did, in words, for its log line. */
export function describeStep(journal: Journal, step: Step): string {
  const a = step.action;
  switch (a.op) {
    case 'switch': {
      const m = journal.moves.find((x) => x.name === a.name);
      return `${a.name}: activation switched to ${versionOf(m ? m[a.toward] : null)}`;
    }
    case 'refresh':
      return 'merge refreshed';
    case 'prove':
      return `the merge shows the ${a.toward === 'from' ? 'previous' : 'new'} versions`;
    case 'health':
      return `${a.name}: health check passed`;
  }
}

/**
 * Runs undo or replay steps to the end, whatever fails; returns what failed. One line per step
 * with its outcome (info; warn when it failed: the caller reports the end result once).
 */
export async function runAll(env: TxEnv, journal: Journal, steps: Step[]): Promise<string[]> {
  const failed: string[] = [];
  const way = journal.phase === 'commit' ? 'completing' : 'way back';
  for (const [i, step] of steps.entries()) {
    let problems: string[];
    try {
      await record(env, journal, step.id);
      problems = Object.values(await perform(env, journal, step.action));
    } catch (err) {
      problems = [`${step.id}: ${messageOf(err)}`];
    }
    const at = `${way}, step ${i + 1}/${steps.length} ${step.id}`;
    if (problems.length > 0)
      env.log.warn({ step: step.id }, `${at} failed: ${problems.join('; ')}`);
    else env.log.info({ step: step.id }, `${at}: ${describeStep(journal, step)}`);
    failed.push(...problems);
  }
  return failed;
}

async function storedVersions(env: TxEnv, moves: readonly Move[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const m of moves) map.set(m.name, await listStored(env.paths, m.name));
  return map;
}

/**
 * What the finished transaction means for state.json (`../plan/effects.ts`), then written.
 * `interruptedAt`: the step a crash cut the run off at (recovery has journaled its own since).
 */
async function recordIn(
  env: TxEnv,
  state: AgentState,
  journal: Journal,
  finish: Finish,
  interruptedAt = journal.step,
) {
  const stored = await storedVersions(env, journal.moves);
  if (finish === 'success')
    applySuccess(state, journal.command, journal.moves, stored, env.now(), !env.refresh);
  else if (finish === 'failure')
    applyFailure(state, journal.command, journal.moves, journal.failures, stored, env.now());
  else applyInterrupted(state, { ...journal, step: interruptedAt }, env.now());
  await writeState(env.paths.stateFile, state);
  if (finish === 'success' && journal.command === 'remove')
    await deleteExtensionFiles(
      env.paths,
      journal.moves.map((m) => m.name),
    );
}

/** Finishes a proven transaction: state first, then the journal goes. */
export async function commit(env: TxEnv, state: AgentState, journal: Journal): Promise<void> {
  try {
    journal.phase = 'commit';
    await record(env, journal, 'commit');
    await recordIn(env, state, journal, 'success');
    await endJournal(env.paths);
  } catch (err) {
    throw new AgentError(
      'COMMIT_FAILED',
      `the new versions are merged and proven, but recording them failed: ${messageOf(err)}; run "sysext-agent recover"`,
      { cause: err },
    );
  }
}

/**
 * Records how a failed or interrupted transaction ended. The journal ends only when the way
 * back succeeded; otherwise it stays, so that `recover` (run first by every command) finishes
 * going back once systemd works again. Returns why the way back failed, if it did.
 */
export async function finishBack(
  env: TxEnv,
  state: AgentState,
  journal: Journal,
  finish: Exclude<Finish, 'success'>,
  failed: string[],
  interruptedAt = journal.step,
): Promise<string | undefined> {
  try {
    await record(env, journal, 'record-failure');
    await recordIn(env, state, journal, finish, interruptedAt);
    if (failed.length === 0) await endJournal(env.paths);
  } catch (err) {
    failed.push(`recording the failure: ${messageOf(err)}`);
  }
  return failed.length > 0 ? failed.join('; ') : undefined;
}

async function open(env: TxEnv, command: Command, moves: readonly Move[]): Promise<Journal> {
  return {
    schema: 1,
    command,
    phase: 'forward',
    step: 'begin',
    moves: await Promise.all(
      moves.map(async (m) => ({
        ...m,
        fromSidecars: m.from !== null && (await hasSidecars(env, m)),
      })),
    ),
    failures: {},
    sidecars: env.sidecars,
    refresh: env.refresh,
    root: env.rootOption ?? null,
    startedAt: env.now().toISOString(),
  };
}

export async function runTransaction(
  env: TxEnv,
  state: AgentState,
  command: Command,
  moves: readonly Move[],
): Promise<TxOutcome> {
  // What sits at each activation path must be ours to switch (or nothing): a planted file,
  // directory or foreign symlink is refused here, before `begin`, with the host untouched.
  for (const m of moves) await checkActivation(env.paths, m.kind, m.name);
  const journal = await open(env, command, moves);
  if (env.refresh)
    await requireTools(
      env.systemd,
      moves.map((m) => m.kind),
    );
  // Until `begin` is on disk nothing has changed: a failure here is exit 1, host untouched.
  await journalStep(env.paths, journal, 'begin');
  await forward(env, journal);
  if (Object.keys(journal.failures).length === 0) {
    await commit(env, state, journal);
    return { ok: true, failures: {} };
  }
  const names = journal.moves.map((m) => m.name).join(', ');
  env.log.error(
    { extensions: names },
    `${journal.command} failed (${Object.values(journal.failures).join('; ')}); switching ${names} back`,
  );
  journal.phase = 'back';
  const failed = await runAll(env, journal, backSteps(journal));
  const rollbackFailed = await finishBack(env, state, journal, 'failure', failed);
  if (rollbackFailed)
    env.log.error(
      `the way back failed: ${rollbackFailed}; the journal is kept, and "sysext-agent recover" (run first by every command) finishes going back`,
    );
  else
    env.log.info(
      `way back complete: ${names} back where ${journal.moves.length > 1 ? 'they were' : 'it was'}${journal.refresh ? ', merge proven' : ''}`,
    );
  return {
    ok: false,
    failures: journal.failures,
    ...(journal.failureCode ? { code: journal.failureCode } : {}),
    ...(rollbackFailed ? { rollbackFailed } : {}),
  };
}
