/** The shape `update`, `rollback` and `remove` report in, and their exit code. */
import { exitCodeFor, type AgentErrorCode } from '../errors.ts';
import type { TxOutcome } from '../transaction/run.ts';

export interface ExtensionReport {
  kind: string | null;
  from: string | null;
  to: string | null;
  action: string;
  result:
    | 'updated'
    | 'installed'
    | 'up-to-date'
    | 'staged'
    | 'rolled-back'
    | 'removed'
    | 'skipped'
    | 'failed';
  message?: string;
  /** Newer versions this host does not take, and why (PRODUCT.md section 3.1). */
  heldBack?: { version: string; reason: string }[];
}

/** The error code a transaction's outcome stands for; null for success. */
export function codeOf(outcome: TxOutcome): AgentErrorCode | null {
  if (outcome.ok) return null;
  return outcome.rollbackFailed ? 'ROLLBACK_FAILED' : (outcome.code ?? 'MERGE_FAILED');
}

export function exitCodeOf(outcome: TxOutcome): number {
  const code = codeOf(outcome);
  return code === null ? 0 : exitCodeFor(code);
}

/** Result of one move of a transaction that was not a plain success. */
export function failedResult(
  outcome: TxOutcome,
  name: string,
): Pick<ExtensionReport, 'result' | 'message'> {
  const failure = Object.hasOwn(outcome.failures, name) ? outcome.failures[name] : undefined;
  if (failure) return { result: 'failed', message: failure };
  return { result: 'rolled-back', message: 'rolled back with the rest of the transaction' };
}
