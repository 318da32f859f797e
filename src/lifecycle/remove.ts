/**
 * `remove NAME...`: the end of the lifecycle. Deactivate, refresh, confirm the extension is gone
 * from the merge (one journaled transaction), then delete its stored versions, partial
 * downloads and state.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { storeDir, type HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { activeVersion } from '../store/activation.ts';
import { readState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import type { Move } from './journal.ts';
import { exitCodeOf, failedResult, type ExtensionReport } from './report.ts';
import { runTransaction, txEnvFromContext } from './transaction.ts';

export interface RemoveReport {
  exitCode: number;
  extensions: Record<string, ExtensionReport>;
  warnings: string[];
}

/** Deletes everything stored for the removed extensions (also run by recovery of a remove). */
export async function purgeRemoved(paths: HostPaths, names: readonly string[]): Promise<void> {
  const partials = await readdir(paths.partialDir).catch(() => [] as string[]);
  for (const name of names) {
    await rm(storeDir(paths, name), { recursive: true, force: true });
    for (const p of partials.filter((f) => f.startsWith(`${name}_`)))
      await rm(join(paths.partialDir, p), { force: true });
  }
}

export async function runRemove(
  ctx: AgentContext,
  names: readonly string[],
): Promise<RemoveReport> {
  const state = await readState(ctx.paths.stateFile);
  const moves: Move[] = [];
  for (const name of new Set(names)) {
    const ext = state.extensions[name];
    if (!ext) throw new AgentError('NOT_INSTALLED', `${name} is not installed`);
    const active = (await activeVersion(ctx.paths, ext.kind, name)) ?? ext.current;
    moves.push({ name, kind: ext.kind, from: active, to: null });
  }
  const outcome = await runTransaction(txEnvFromContext(ctx), state, 'remove', moves);
  if (outcome.ok)
    await purgeRemoved(
      ctx.paths,
      moves.map((m) => m.name),
    );
  const warnings = moves
    .filter((m) => m.name in ctx.config.extensions)
    .map(
      (m) => `${m.name} is still listed in the configuration: the next update installs it again`,
    );
  const extensions: Record<string, ExtensionReport> = {};
  for (const m of moves) {
    const base = { kind: m.kind, from: m.from, to: null, action: 'remove' };
    extensions[m.name] = outcome.ok
      ? { ...base, result: 'removed' }
      : { ...base, ...failedResult(outcome, m.name) };
  }
  return { exitCode: exitCodeOf(outcome), extensions, warnings };
}
