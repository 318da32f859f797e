/**
 * Steps 7-9 of PRODUCT.md section 1 as one journaled transaction over several extensions:
 * switch every activation entry, refresh, prove each merge, run health checks; on any failure
 * switch everything back, refresh, prove the old state. Every host change is journaled first.
 */
import { lstat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import type { ExtensionConfig } from '../config/schema.ts';
import { activate, activationEntries, deactivate } from '../store/activation.ts';
import { listStored, storedImage } from '../store/images.ts';
import { writeState, type AgentState } from '../store/state.ts';
import { applyFailure, applySuccess, type Command } from './effects.ts';
import { runHealthCheck } from './health.ts';
import { endJournal, journalStep, type Journal, type Move } from './journal.ts';
import { mergeProblem, refresh, requireTools, unmergeProblem } from './merge.ts';

/** What a transaction needs; built from the configuration, or from a journal by `recover`. */
export interface TxEnv {
  paths: Readonly<HostPaths>;
  log: Logger;
  refresh: boolean;
  rootOption: string | undefined;
  sidecars: boolean;
  now: () => Date;
  health: (name: string) => ExtensionConfig | undefined;
}

export interface TxOutcome {
  ok: boolean;
  failures: Record<string, string>;
  rollbackFailed?: string;
}

export async function setActive(env: TxEnv, m: Move, version: string | null): Promise<void> {
  if (!version) return deactivate(env.paths, m.kind, m.name);
  // Going back to `from` restores its entries as they were proven live: a version merged
  // without sidecars may not merge with them (a kernel without dm-verity), nor the reverse.
  const sidecars =
    version === m.from && m.fromSidecars !== undefined ? m.fromSidecars : env.sidecars;
  await activate(env.paths, m.kind, m.name, version, sidecars);
}

async function hasSidecars(env: TxEnv, m: Move): Promise<boolean> {
  return lstat(activationEntries(env.paths, m.kind, m.name).rootHash).then(
    () => true,
    () => false,
  );
}

export async function refreshKinds(env: TxEnv, moves: readonly Move[]): Promise<string | null> {
  for (const kind of [...new Set(moves.map((m) => m.kind))].sort()) {
    try {
      await refresh({ kind, root: env.rootOption });
    } catch (err) {
      return (err as Error).message;
    }
  }
  return null;
}

/** Why `version` of `m` is not what the merge shows (null version: not merged at all). */
export async function proveActive(
  env: TxEnv,
  m: Move,
  version: string | null,
): Promise<string | null> {
  const target = { kind: m.kind, root: env.rootOption };
  if (version === null) return unmergeProblem(target, m.name);
  return mergeProblem(target, m.name, storedImage(env.paths, m.name, version).image);
}

async function proveForward(env: TxEnv, journal: Journal): Promise<Record<string, string>> {
  const failures: Record<string, string> = {};
  await journalStep(env.paths, journal, 'refresh');
  const refreshError = await refreshKinds(env, journal.moves);
  await journalStep(env.paths, journal, 'prove');
  for (const m of journal.moves) {
    const problem = refreshError ?? (await proveActive(env, m, m.to));
    if (problem) failures[m.name] = `${m.name} ${m.to ?? '(removal)'}: ${problem}`;
  }
  if (Object.keys(failures).length > 0) return failures;
  for (const m of journal.moves) {
    if (!m.to) continue;
    await journalStep(env.paths, journal, `health:${m.name}`);
    const health = await runHealthCheck(m.name, m.to, env.paths.root, env.health(m.name));
    env.log.info(
      { name: m.name, version: m.to, ok: health.ok, detail: health.detail },
      'health check',
    );
    if (!health.ok) failures[m.name] = `${m.name} ${m.to}: ${health.detail}`;
  }
  return failures;
}

/** Back to `from` for every move; returns why the way back failed, if it did. */
export async function switchBack(env: TxEnv, journal: Journal): Promise<string | undefined> {
  for (const m of journal.moves) {
    await journalStep(env.paths, journal, `revert:${m.name}`);
    await setActive(env, m, m.from);
  }
  if (!env.refresh) return undefined;
  await journalStep(env.paths, journal, 'revert-refresh');
  const refreshError = await refreshKinds(env, journal.moves);
  if (refreshError) return refreshError;
  const problems: string[] = [];
  for (const m of journal.moves) {
    const problem = await proveActive(env, m, m.from);
    if (problem) problems.push(`${m.name} ${m.from ?? '(inactive)'}: ${problem}`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

export async function storedVersions(
  paths: HostPaths,
  moves: readonly Move[],
): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const m of moves) map.set(m.name, await listStored(paths, m.name));
  return map;
}

/** Finishes a proven transaction: state first, then the journal goes. */
export async function commit(env: TxEnv, state: AgentState, journal: Journal): Promise<void> {
  journal.phase = 'commit';
  await journalStep(env.paths, journal, 'commit');
  applySuccess(
    state,
    journal.command,
    journal.moves,
    await storedVersions(env.paths, journal.moves),
    env.now(),
    !env.refresh,
  );
  await writeState(env.paths.stateFile, state);
  await endJournal(env.paths);
}

export async function revertAndRecord(
  env: TxEnv,
  state: AgentState,
  journal: Journal,
): Promise<string | undefined> {
  journal.phase = 'back';
  const rollbackFailed = await switchBack(env, journal);
  const stored = await storedVersions(env.paths, journal.moves);
  applyFailure(state, journal.command, journal.moves, journal.failures, stored, env.now());
  await journalStep(env.paths, journal, 'record-failure');
  await writeState(env.paths.stateFile, state);
  // Even when the way back failed, the entries point at `from` (complete, verified versions):
  // the journal ends and exit 4 plus lastResult tell the operator, instead of every later
  // command retrying the same refresh.
  await endJournal(env.paths);
  return rollbackFailed;
}

export async function runTransaction(
  env: TxEnv,
  state: AgentState,
  command: Command,
  moves: Move[],
): Promise<TxOutcome> {
  const journal: Journal = {
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
  if (env.refresh) await requireTools(moves.map((m) => m.kind));
  await journalStep(env.paths, journal, 'begin');
  for (const m of journal.moves) {
    await journalStep(env.paths, journal, `switch:${m.name}`);
    await setActive(env, m, m.to);
    env.log.info({ name: m.name, from: m.from, to: m.to }, 'activation switched');
  }
  journal.failures = env.refresh ? await proveForward(env, journal) : {};
  if (Object.keys(journal.failures).length === 0) {
    await commit(env, state, journal);
    return { ok: true, failures: {} };
  }
  env.log.error({ failures: journal.failures }, 'transaction failed, switching back');
  const rollbackFailed = await revertAndRecord(env, state, journal);
  return { ok: false, failures: journal.failures, ...(rollbackFailed ? { rollbackFailed } : {}) };
}

export function txEnvFromContext(ctx: {
  paths: Readonly<HostPaths>;
  log: Logger;
  refresh: boolean;
  rootOption: string | undefined;
  now: () => Date;
  config: { veritySidecars: boolean; extensions: Readonly<Record<string, ExtensionConfig>> };
}): TxEnv {
  return {
    paths: ctx.paths,
    log: ctx.log,
    refresh: ctx.refresh,
    rootOption: ctx.rootOption,
    sidecars: ctx.config.veritySidecars,
    now: ctx.now,
    health: (name) => ctx.config.extensions[name],
  };
}

export type { Command };
