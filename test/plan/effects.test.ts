/** What recovery records after a crash: interruptions while a version was live, and quarantine. */
import { describe, expect, it } from 'vitest';
import { applyInterrupted, applySuccess, MAX_INTERRUPTED } from '../../src/plan/effects.ts';
import type { Move } from '../../src/transaction/journal.ts';
import { emptyState, type AgentState } from '../../src/store/state.ts';

const now = new Date('2026-11-26T00:00:00Z');
const upgrade: Move[] = [{ name: 'hello', kind: 'sysext', from: '1.0', to: '2.0' }];

function installed(): AgentState {
  const state = emptyState();
  state.extensions.hello = {
    kind: 'sysext',
    current: '1.0',
    previous: null,
    quarantined: [],
    interrupted: {},
    lastResult: null,
  };
  return state;
}

describe('applyInterrupted', () => {
  it.each(['refresh', 'prove', 'health:hello'])(
    'counts a crash at %s and quarantines the version at the limit',
    (step) => {
      const state = installed();
      for (let i = 1; i <= MAX_INTERRUPTED; i++) {
        applyInterrupted(state, { command: 'update', moves: upgrade, step }, now);
        expect(state.extensions.hello?.interrupted['2.0']).toBe(i);
      }
      expect(state.extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
      expect(state.extensions.hello?.current).toBe('1.0');
    },
  );

  it.each(['begin', 'switch:hello'])(
    'does not count a crash at %s (the version never ran)',
    (step) => {
      const state = installed();
      for (let i = 0; i < 3; i++)
        applyInterrupted(state, { command: 'update', moves: upgrade, step }, now);
      expect(state.extensions.hello?.interrupted).toEqual({});
      expect(state.extensions.hello?.quarantined).toEqual([]);
    },
  );

  it('does not count rollbacks, and a first install gets a state entry to count in', () => {
    const state = installed();
    applyInterrupted(state, { command: 'rollback', moves: upgrade, step: 'health:hello' }, now);
    expect(state.extensions.hello?.interrupted).toEqual({});
    const fresh = emptyState();
    const install: Move[] = [{ name: 'new', kind: 'sysext', from: null, to: '1.0' }];
    applyInterrupted(fresh, { command: 'update', moves: install, step: 'refresh' }, now);
    expect(fresh.extensions.new).toMatchObject({ current: null, interrupted: { '1.0': 1 } });
  });

  it('a successful update of the version clears its count', () => {
    const state = installed();
    applyInterrupted(state, { command: 'update', moves: upgrade, step: 'prove' }, now);
    applySuccess(state, 'update', upgrade, new Map(), now);
    expect(state.extensions.hello).toMatchObject({
      current: '2.0',
      previous: '1.0',
      interrupted: {},
    });
  });
});
