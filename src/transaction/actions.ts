/**
 * Does one action of the transaction description (`./steps.ts`) and says what went wrong, per
 * extension. A thrown error is left to the caller, which records it like any other failure.
 */
import { lstat } from 'node:fs/promises';
import { activate, deactivate } from '../store/activation.ts';
import { activationEntries, storedImage } from '../store/layout.ts';
import { mergeProblem, unmergeProblem } from '../systemd/proof.ts';
import type { TxEnv } from './env.ts';
import type { Journal, Move } from './journal.ts';
import type { Action, Toward } from './steps.ts';

/** Problems per extension name; empty when the action succeeded. */
export type Problems = Record<string, string>;

function moveOf(journal: Journal, name: string): Move {
  const m = journal.moves.find((x) => x.name === name);
  if (!m) throw new Error(`journal has no move for ${name}`);
  return m;
}

export async function setActive(env: TxEnv, m: Move, version: string | null): Promise<void> {
  if (!version) return deactivate(env.paths, m.kind, m.name);
  // Going back to `from` restores its entries as they were proven live: a version merged
  // without sidecars may not merge with them (a kernel without dm-verity), nor the reverse.
  const sidecars =
    version === m.from && m.fromSidecars !== undefined ? m.fromSidecars : env.sidecars;
  await activate(env.paths, m.kind, m.name, version, sidecars);
}

export async function hasSidecars(env: TxEnv, m: Move): Promise<boolean> {
  return lstat(activationEntries(env.paths, m.kind, m.name).rootHash).then(
    () => true,
    () => false,
  );
}

async function refreshKinds(env: TxEnv, moves: readonly Move[]): Promise<void> {
  for (const kind of [...new Set(moves.map((m) => m.kind))].sort())
    await env.systemd.refresh({ kind, root: env.rootOption });
}

async function prove(env: TxEnv, moves: readonly Move[], toward: Toward): Promise<Problems> {
  const problems: Problems = {};
  for (const m of moves) {
    const version = m[toward];
    const target = { kind: m.kind, root: env.rootOption };
    const problem =
      version === null
        ? await unmergeProblem(env.systemd, target, m.name)
        : await mergeProblem(
            env.systemd,
            target,
            m.name,
            storedImage(env.paths, m.name, version).image,
          );
    if (problem) problems[m.name] = `${m.name} ${version ?? '(none)'}: ${problem}`;
  }
  return problems;
}

async function health(env: TxEnv, m: Move): Promise<Problems> {
  const cfg = env.healthOf(m.name);
  const argv = cfg?.healthCheck;
  if (!cfg || !argv || argv.length === 0 || m.to === null) return {};
  const result = await env.health.run({
    name: m.name,
    version: m.to,
    root: env.paths.root,
    argv,
    timeoutSec: cfg.healthTimeoutSec,
  });
  env.log.info(
    { name: m.name, version: m.to, ok: result.ok, detail: result.detail },
    'health check',
  );
  return result.ok ? {} : { [m.name]: `${m.name} ${m.to}: ${result.detail}` };
}

export async function perform(env: TxEnv, journal: Journal, action: Action): Promise<Problems> {
  switch (action.op) {
    case 'switch': {
      const m = moveOf(journal, action.name);
      await setActive(env, m, m[action.toward]);
      return {};
    }
    case 'refresh':
      await refreshKinds(env, journal.moves);
      return {};
    case 'prove':
      return prove(env, journal.moves, action.toward);
    case 'health':
      return health(env, moveOf(journal, action.name));
  }
}

/** The extensions a failed action concerns: its own, or every extension of the transaction. */
export function scopeOf(journal: Journal, action: Action): string[] {
  return 'name' in action ? [action.name] : journal.moves.map((m) => m.name);
}
