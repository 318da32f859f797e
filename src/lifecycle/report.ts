/** The shape `update`, `rollback` and `remove` report in, and their exit code. */
import { EXIT } from '../errors.ts';
import type { TxOutcome } from './transaction.ts';

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
}

export function exitCodeOf(outcome: TxOutcome): number {
  if (outcome.ok) return EXIT.OK;
  return outcome.rollbackFailed ? EXIT.NEEDS_ATTENTION : EXIT.ROLLED_BACK;
}

/** Result of one move of a transaction that was not a plain success. */
export function failedResult(
  outcome: TxOutcome,
  name: string,
): Pick<ExtensionReport, 'result' | 'message'> {
  const failure = outcome.failures[name];
  if (failure) return { result: 'failed', message: failure };
  return { result: 'rolled-back', message: 'rolled back with the rest of the transaction' };
}
