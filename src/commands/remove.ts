/**
 * `remove NAME...`: the end of the lifecycle. Deactivate, refresh, confirm the extension is gone
 * from the merge (one journaled transaction), then delete its stored versions, partial
 * downloads and state.
 */
import { AgentError } from '../errors.ts';
import { isOwnExtension } from '../self/own.ts';
import { activeVersion } from '../store/activation.ts';
import { readState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import type { Move } from '../transaction/journal.ts';
import { exitCodeOf, failedResult, type ExtensionReport } from './report.ts';
import { txEnvFromContext } from '../transaction/env.ts';
import { runTransaction } from '../transaction/run.ts';

export interface RemoveReport {
  exitCode: number;
  extensions: Record<string, ExtensionReport>;
  warnings: string[];
}

export async function runRemove(
  ctx: AgentContext,
  names: readonly string[],
  force = false,
): Promise<RemoveReport> {
  const own = names.filter(isOwnExtension);
  if (own.length > 0 && !force)
    throw new AgentError(
      'USAGE',
      `${own.join(', ')} ${own.length > 1 ? 'are' : 'is'} the agent's own extension: without it this host has no agent to update or recover its extensions; add --force if that is what you want`,
    );
  const state = await readState(ctx.paths.stateFile);
  const moves: Move[] = [];
  for (const name of new Set(names)) {
    const ext = state.extensions[name];
    if (!ext) throw new AgentError('NOT_INSTALLED', `${name} is not installed`);
    const active = (await activeVersion(ctx.paths, ext.kind, name)) ?? ext.current;
    moves.push({ name, kind: ext.kind, from: active, to: null });
  }
  const outcome = await runTransaction(txEnvFromContext(ctx), state, 'remove', moves);
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
