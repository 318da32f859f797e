/**
 * `rollback [NAME...]`: the previous version becomes current again, through the same journaled
 * transaction as an update (switch, refresh, prove, health check). The version left behind is
 * quarantined so that the next unattended update does not bring it straight back.
 */
import { existsSync } from 'node:fs';
import { AgentError } from '../errors.ts';
import { storedImage } from '../store/layout.ts';
import { readState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { emptyRecord, own } from '../version/own-record.ts';
import { checkNames, unknownExtension } from './selection.ts';
import type { Move } from '../transaction/journal.ts';
import { exitCodeOf, failedResult, type ExtensionReport } from './report.ts';
import { txEnvFromContext } from '../transaction/env.ts';
import { runTransaction } from '../transaction/run.ts';

export interface RollbackReport {
  exitCode: number;
  extensions: Record<string, ExtensionReport>;
  rollbackFailed?: string;
}

export async function runRollback(
  ctx: AgentContext,
  names: readonly string[],
): Promise<RollbackReport> {
  checkNames(names);
  const state = await readState(ctx.paths.stateFile);
  const configured = Object.keys(ctx.config.extensions);
  for (const name of names) {
    if (!configured.includes(name) && !own(state.extensions, name))
      throw unknownExtension(name, configured, Object.keys(state.extensions));
  }
  const candidates =
    names.length > 0
      ? [...new Set(names)]
      : Object.keys(state.extensions).filter((n) => own(state.extensions, n)?.previous);
  if (candidates.length === 0) {
    throw new AgentError('NO_PREVIOUS', 'no extension has a previous version to roll back to');
  }
  const moves: Move[] = candidates.map((name) => {
    const ext = own(state.extensions, name);
    if (!ext?.current)
      throw new AgentError('NOT_INSTALLED', `${name} is not installed: nothing to roll back`);
    if (!ext.previous)
      throw new AgentError(
        'NO_PREVIOUS',
        `${name} has no previous version to roll back to (current ${ext.current})`,
      );
    if (!existsSync(storedImage(ctx.paths, name, ext.previous).image)) {
      throw new AgentError('NO_PREVIOUS', `${name} ${ext.previous} is no longer in the store`);
    }
    return { name, kind: ext.kind, from: ext.current, to: ext.previous };
  });
  const outcome = await runTransaction(txEnvFromContext(ctx), state, 'rollback', moves);
  const extensions: Record<string, ExtensionReport> = emptyRecord();
  for (const m of moves) {
    const base = { kind: m.kind, from: m.from, to: m.to, action: 'rollback' };
    extensions[m.name] = outcome.ok
      ? {
          ...base,
          result: ctx.refresh ? 'rolled-back' : 'staged',
          message: `${m.from} quarantined`,
        }
      : { ...base, ...failedResult(outcome, m.name) };
  }
  return {
    exitCode: exitCodeOf(outcome),
    extensions,
    ...(outcome.rollbackFailed ? { rollbackFailed: outcome.rollbackFailed } : {}),
  };
}
