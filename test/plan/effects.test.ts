/** What recovery records after a crash: interruptions while a version was live, and quarantine. */
import { describe, expect, it } from 'vitest';
import {
  applyFailure,
  applyInterrupted,
  applySuccess,
  MAX_INTERRUPTED,
} from '../../src/plan/effects.ts';
import { quarantine, unquarantine } from '../../src/plan/state-ops.ts';
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

describe('quarantine: set, cleared by a proven install, remembered as activated or not', () => {
  const q = (state: AgentState) => state.extensions.hello?.quarantined ?? [];

  it('a failed update quarantines a version that never became current', () => {
    const state = installed();
    applyFailure(state, 'update', upgrade, { hello: 'health check failed' }, new Map(), now);
    expect(q(state)).toEqual([
      { version: '2.0', reason: 'health check failed', at: now.toISOString(), activated: false },
    ]);
  });

  it('a crash-quarantined version never became current either', () => {
    const state = installed();
    for (let i = 0; i < MAX_INTERRUPTED; i++)
      applyInterrupted(state, { command: 'update', moves: upgrade, step: 'refresh' }, now);
    expect(q(state)).toMatchObject([{ version: '2.0', activated: false }]);
  });

  it('the version a rollback leaves was current: activated', () => {
    const state = installed();
    const back: Move[] = [{ name: 'hello', kind: 'sysext', from: '1.0', to: '0.9' }];
    applySuccess(state, 'rollback', back, new Map([['hello', ['0.9', '1.0']]]), now);
    expect(q(state)).toMatchObject([{ version: '1.0', activated: true, reason: /rolled back/ }]);
  });

  it('once activated, a later failure of the same version keeps it activated', () => {
    const state = installed();
    const ext = state.extensions.hello!;
    quarantine(ext, '2.0', 'rolled back', now);
    applyFailure(state, 'update', upgrade, { hello: 'failed again' }, new Map(), now);
    expect(q(state)).toMatchObject([{ version: '2.0', activated: true, reason: 'failed again' }]);
  });

  it('a proven update to a quarantined version (on purpose) clears its entry and count', () => {
    const state = installed();
    applyFailure(state, 'update', upgrade, { hello: 'health check failed' }, new Map(), now);
    state.extensions.hello!.interrupted['2.0'] = 1;
    quarantine(state.extensions.hello!, '1.5', 'other', now, false);
    applySuccess(state, 'update', upgrade, new Map(), now);
    expect(state.extensions.hello).toMatchObject({ current: '2.0', interrupted: {} });
    expect(q(state).map((e) => e.version)).toEqual(['1.5']);
  });

  it('staged only (no refresh, nothing proven): the entry stays', () => {
    const state = installed();
    applyFailure(state, 'update', upgrade, { hello: 'health check failed' }, new Map(), now);
    applySuccess(state, 'update', upgrade, new Map(), now, true);
    expect(state.extensions.hello?.current).toBe('2.0');
    expect(q(state).map((e) => e.version)).toEqual(['2.0']);
  });

  it('unquarantine forgets the versions named, or all, with their counts', () => {
    const state = installed();
    const ext = state.extensions.hello!;
    for (const v of ['2.0', '3.0', '4.0']) quarantine(ext, v, `bad ${v}`, now, false);
    ext.interrupted = { '3.0': 1, '5.0': 1 };
    expect(unquarantine(ext, ['3.0', '9.9']).map((e) => e.version)).toEqual(['3.0']);
    expect(ext.interrupted).toEqual({ '5.0': 1 });
    expect(unquarantine(ext, null).map((e) => e.version)).toEqual(['2.0', '4.0']);
    expect(ext).toMatchObject({ quarantined: [], interrupted: {} });
  });
});
