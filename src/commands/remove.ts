/**
 * `remove NAME...`: the end of the lifecycle. Deactivate, refresh, confirm the extension is gone
 * from the merge (one journaled transaction), then delete its stored versions, partial
 * downloads and state. A configured extension that is not installed is already gone (exit 0,
 * a note); a name neither configured nor installed is a usage error (docs/messages.md).
 */
import { AgentError } from '../errors.ts';
import { isOwnExtension } from '../self/own.ts';
import { activeVersion } from '../store/activation.ts';
import { readState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { emptyRecord, own } from '../version/own-record.ts';
import { checkNames, unknownExtension } from './selection.ts';
import type { Move } from '../transaction/journal.ts';
import { exitCodeOf, failedResult, type ExtensionReport } from './report.ts';
import { txEnvFromContext } from '../transaction/env.ts';
import { runTransaction, type TxOutcome } from '../transaction/run.ts';

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
  checkNames(names);
  const agents = names.filter(isOwnExtension);
  if (agents.length > 0 && !force)
    throw new AgentError(
      'USAGE',
      `${agents.join(', ')} ${agents.length > 1 ? 'are' : 'is'} the agent's own extension: without it this host has no agent to update or recover its extensions; add --force if that is what you want`,
    );
  const state = await readState(ctx.paths.stateFile);
  const configured = Object.keys(ctx.config.extensions);
  const moves: Move[] = [];
  const gone: string[] = [];
  for (const name of new Set(names)) {
    const ext = own(state.extensions, name);
    if (ext) {
      const active = (await activeVersion(ctx.paths, ext.kind, name)) ?? ext.current;
      moves.push({ name, kind: ext.kind, from: active, to: null });
    } else if (configured.includes(name)) gone.push(name);
    else throw unknownExtension(name, configured, Object.keys(state.extensions));
  }
  // Already gone is what remove is for: a note and exit 0 (a retried remove, a script that
  // removes before it reconfigures), not an error. An empty transaction would refresh for
  // nothing, so there is none.
  const outcome =
    moves.length > 0
      ? await runTransaction(txEnvFromContext(ctx), state, 'remove', moves)
      : ({ ok: true, failures: {} } satisfies TxOutcome);
  const warnings = [...moves.map((m) => m.name), ...gone]
    .filter((name) => Object.hasOwn(ctx.config.extensions, name))
    .map(
      (name) => `${name} is still listed in the configuration: the next update installs it again`,
    );
  const extensions: Record<string, ExtensionReport> = emptyRecord();
  for (const m of moves) {
    const base = { kind: m.kind, from: m.from, to: null, action: 'remove' };
    extensions[m.name] = outcome.ok
      ? { ...base, result: 'removed' }
      : { ...base, ...failedResult(outcome, m.name) };
  }
  for (const name of gone)
    extensions[name] = {
      kind: null,
      from: null,
      to: null,
      action: 'remove',
      result: 'skipped',
      message: 'not installed: nothing to remove',
    };
  return { exitCode: exitCodeOf(outcome), extensions, warnings };
}
