/**
 * What a finished transaction means for state.json, as functions of the journal's data alone,
 * so `recover` can apply them after a crash exactly as the interrupted run would have.
 * Each is idempotent: recovery may apply one to a state that already has it.
 */
import type { AgentState } from '../store/state.ts';
import { compareVersions, newestVersion } from '../version/compare.ts';
import { own } from '../version/own-record.ts';
import type { Journal, Move } from '../transaction/journal.ts';
import { ensureExtensionState, quarantine, setResult, unquarantine } from './state-ops.ts';

export type Command = Journal['command'];

/** After a rollback, "previous" is the newest stored version below the new current that is not quarantined. */
export function previousBelow(
  stored: readonly string[],
  current: string,
  quarantined: readonly string[],
): string | null {
  const bad = new Set(quarantined);
  return (
    newestVersion(stored.filter((v) => !bad.has(v) && compareVersions(v, current) < 0)) ?? null
  );
}

export function applySuccess(
  state: AgentState,
  command: Command,
  moves: readonly Move[],
  stored: ReadonlyMap<string, readonly string[]>,
  now: Date,
  staged = false,
): void {
  for (const m of moves) {
    if (command === 'remove') {
      delete state.extensions[m.name];
      continue;
    }
    const ext = ensureExtensionState(state, m.name, m.kind);
    if (command === 'update') {
      ext.previous = m.from ?? ext.previous;
      ext.current = m.to;
      if (m.to) delete ext.interrupted[m.to];
      // Installed on purpose (NAME@VERSION, --allow-quarantined) and proven merged and healthy:
      // its quarantine is over. Staged only (no refresh) proves nothing, so it stays.
      if (m.to && !staged) unquarantine(ext, [m.to]);
      setResult(
        ext,
        m.from ? 'update' : 'install',
        true,
        now,
        `${m.to} ${staged ? 'staged' : 'merged'}`,
      );
    } else {
      if (m.from) quarantine(ext, m.from, 'rolled back by the rollback command', now);
      ext.current = m.to;
      const q = ext.quarantined.map((x) => x.version);
      ext.previous = m.to ? previousBelow(stored.get(m.name) ?? [], m.to, q) : null;
      setResult(ext, 'rollback', true, now, `${m.from} -> ${m.to}`);
    }
  }
}

export function applyFailure(
  state: AgentState,
  command: Command,
  moves: readonly Move[],
  failures: Readonly<Record<string, string>>,
  stored: ReadonlyMap<string, readonly string[]>,
  now: Date,
): void {
  for (const m of moves) {
    const existing = own(state.extensions, m.name);
    const reason = own(failures, m.name);
    if (!existing && m.from === null && !reason) continue;
    const ext = existing ?? ensureExtensionState(state, m.name, m.kind);
    // A version that failed to merge or its health check is not tried again unattended. An
    // update's target never became current; a rollback's target had been current before.
    if (reason && m.to) quarantine(ext, m.to, reason, now, command === 'rollback');
    // A rollback target that failed is quarantined, so it can no longer be "previous".
    if (command === 'rollback' && ext.current && ext.previous === m.to) {
      ext.previous = previousBelow(
        stored.get(m.name) ?? [],
        ext.current,
        ext.quarantined.map((q) => q.version),
      );
    }
    setResult(ext, command, false, now, reason ?? 'rolled back with the rest of the transaction');
  }
}

/** Interruptions while a version is live but unproven before it is quarantined. */
export const MAX_INTERRUPTED = 2;

/** Steps at which the new version is merged (or being merged) but not yet proven healthy. */
function versionWasLive(step: string): boolean {
  return step === 'refresh' || step === 'prove' || step.startsWith('health:');
}

/**
 * A crash before the new versions were proven: the host is back on `from`, state as before.
 * A version that was live when the run was cut off (a crash or power loss during its refresh or
 * health check may be its own doing) counts an interruption; at MAX_INTERRUPTED it is
 * quarantined, so that a version that takes the machine down is not retried by every timer run.
 */
export function applyInterrupted(
  state: AgentState,
  journal: Pick<Journal, 'command' | 'moves' | 'step'>,
  now: Date,
): void {
  for (const m of journal.moves) {
    const live = journal.command === 'update' && m.to !== null && versionWasLive(journal.step);
    if (!own(state.extensions, m.name) && !live) continue;
    const ext = ensureExtensionState(state, m.name, m.kind);
    if (live && m.to) {
      const count = (own(ext.interrupted, m.to) ?? 0) + 1;
      ext.interrupted[m.to] = count;
      if (count >= MAX_INTERRUPTED) {
        quarantine(
          ext,
          m.to,
          `interrupted ${count} times while being merged or health-checked (crash or power loss)`,
          now,
          false,
        );
      }
    }
    setResult(
      ext,
      journal.command,
      false,
      now,
      `interrupted at ${journal.step}; recovered to ${m.from ?? 'inactive'}`,
    );
  }
}
