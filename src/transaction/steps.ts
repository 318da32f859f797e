/**
 * The one description of a transaction (PRODUCT.md section 1 steps 7-9), as data: its forward
 * steps and, for each, the step that undoes it. Running, going back and recovering after a
 * crash all interpret this list, so a step cannot be added to one path and forgotten in another.
 *
 *   switch:NAME  point the activation entries at `to`      undo  revert:NAME   (back to `from`)
 *   refresh      systemd-sysext/confext refresh            undo  revert-refresh
 *   prove        the merge shows every `to`                undo  revert-prove  (shows every `from`)
 *   health:NAME  the extension's health check              (nothing to undo)
 *
 * The way back runs the undo steps in forward order: the entries go back first, then one
 * refresh, then the proof of the old state.
 */
import type { Journal, Move } from './journal.ts';

export type Toward = 'to' | 'from';

export type Action =
  | { op: 'switch'; name: string; toward: Toward }
  | { op: 'refresh' }
  | { op: 'prove'; toward: Toward }
  | { op: 'health'; name: string };

export interface Step {
  /** The journal's name for the step, recorded before it is done. */
  id: string;
  action: Action;
  /** Done again when recovery completes a proven transaction: it re-establishes `to`. */
  replay?: boolean;
  undo?: Step;
}

type Shape = Pick<Journal, 'moves' | 'refresh'>;

function switchStep(m: Move): Step {
  return {
    id: `switch:${m.name}`,
    action: { op: 'switch', name: m.name, toward: 'to' },
    replay: true,
    undo: { id: `revert:${m.name}`, action: { op: 'switch', name: m.name, toward: 'from' } },
  };
}

export function forwardSteps(tx: Shape): Step[] {
  const steps = tx.moves.map(switchStep);
  // Without refresh (`refresh: false`, or --root without --refresh) the merge happens later,
  // at the next refresh or boot: there is nothing to prove or health-check now.
  if (!tx.refresh) return steps;
  steps.push({
    id: 'refresh',
    action: { op: 'refresh' },
    replay: true,
    undo: { id: 'revert-refresh', action: { op: 'refresh' } },
  });
  steps.push({
    id: 'prove',
    action: { op: 'prove', toward: 'to' },
    undo: { id: 'revert-prove', action: { op: 'prove', toward: 'from' } },
  });
  for (const m of tx.moves) {
    if (m.to !== null)
      steps.push({ id: `health:${m.name}`, action: { op: 'health', name: m.name } });
  }
  return steps;
}

/**
 * The way back. All undo steps, also of forward steps not reached: each is idempotent (an entry
 * already at `from` is switched to `from` again), and after a crash the journal cannot say
 * whether the step it names was done.
 */
export function backSteps(tx: Shape): Step[] {
  return forwardSteps(tx).flatMap((s) => (s.undo ? [s.undo] : []));
}

export function replaySteps(tx: Shape): Step[] {
  return forwardSteps(tx).filter((s) => s.replay === true);
}

/** What finishing the transaction records in state.json. */
export type Finish = 'success' | 'failure' | 'interrupted';

/**
 * How `recover` finishes a journal, by its phase:
 *   forward  the new versions were not proven: go back, count the interruption;
 *   back     a failure was being rolled back: finish going back, record the failure;
 *   commit   everything was proven: re-establish `to`, record success.
 */
export function recoveryOf(journal: Pick<Journal, 'phase' | 'moves' | 'refresh'>): {
  steps: Step[];
  finish: Finish;
} {
  switch (journal.phase) {
    case 'forward':
      return { steps: backSteps(journal), finish: 'interrupted' };
    case 'back':
      return { steps: backSteps(journal), finish: 'failure' };
    case 'commit':
      return { steps: replaySteps(journal), finish: 'success' };
  }
}
