/**
 * Every branch of the transaction and of `recover`, in process, through fake edges (no root):
 * refresh failing, status failing or lying, proof failing for one extension of three, health
 * failing or unable to start, the way back failing at each of its steps, a crash at every
 * journal step followed by `recover`, and a proven run that cannot be recorded.
 */
import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/commands/report.ts';
import { exitCodeFor } from '../../src/errors.ts';
import { activate } from '../../src/store/activation.ts';
import { emptyState, readState, writeState, type AgentState } from '../../src/store/state.ts';
import { journalPath, readJournal, type Move } from '../../src/transaction/journal.ts';
import { recover } from '../../src/transaction/recover.ts';
import { runTransaction } from '../../src/transaction/run.ts';
import { backSteps, forwardSteps } from '../../src/transaction/steps.ts';
import { failing, tempHost, type TempHost } from '../helpers/fake-ports.ts';

let host: TempHost;
beforeEach(async () => {
  host = await tempHost();
});
afterEach(async () => {
  await host.cleanup();
});

const NAMES = ['a', 'b', 'c'];

/** `names` installed at 1.0 (merged, state), with 2.0 also in the store. */
async function installed(names = ['hello']): Promise<AgentState> {
  const state = emptyState();
  for (const name of names) {
    await host.store(name, '1.0', '2.0');
    await activate(host.paths, 'sysext', name, '1.0', false);
    state.extensions[name] = {
      kind: 'sysext',
      current: '1.0',
      previous: null,
      quarantined: [],
      interrupted: {},
      lastResult: null,
    };
  }
  await host.systemd.refresh({ kind: 'sysext', root: host.paths.root });
  await writeState(host.paths.stateFile, state);
  return state;
}

const upgrade = (names = ['hello']): Move[] =>
  names.map((name) => ({ name, kind: 'sysext', from: '1.0', to: '2.0' }));

async function linked(name = 'hello'): Promise<string | null> {
  const target = await readlink(join(host.paths.sysextDir, `${name}.raw`)).catch(() => null);
  return target === null ? null : (/_(.+)\.raw$/.exec(target)?.[1] ?? target);
}

const journalLeft = () => existsSync(journalPath(host.paths));
const ports = () => ({ systemd: host.systemd, health: host.health });

describe('forward path', () => {
  it('switches, refreshes, proves, runs the health check and commits', async () => {
    const state = await installed();
    const outcome = await runTransaction(host.env(), state, 'update', upgrade());
    expect(outcome).toEqual({ ok: true, failures: {} });
    expect(exitCodeOf(outcome)).toBe(0);
    expect(await linked()).toBe('2.0');
    expect(host.health.runs.map((r) => `${r.name}@${r.version}`)).toEqual(['hello@2.0']);
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.hello).toMatchObject({ current: '2.0', previous: '1.0' });
    expect(journalLeft()).toBe(false);
  });

  it('without refresh only switches and records (staged)', async () => {
    const state = await installed();
    const outcome = await runTransaction(host.env({ refresh: false }), state, 'update', upgrade());
    expect(outcome.ok).toBe(true);
    expect(host.systemd.calls.refresh).toBe(1); // the one in installed()
    expect(host.health.runs).toEqual([]);
    expect((await readState(host.paths.stateFile)).extensions.hello?.lastResult?.message).toBe(
      '2.0 staged',
    );
  });

  it('refuses before `begin` when the tool is missing: UNSUPPORTED, nothing changed', async () => {
    const state = await installed();
    host.systemd.tools.delete('sysext');
    await expect(runTransaction(host.env(), state, 'update', upgrade())).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    expect(await linked()).toBe('1.0');
    expect(journalLeft()).toBe(false);
  });
});

describe('a failure after the switch is rolled back: exit 3, proven, quarantined', () => {
  const cases: [string, () => void, 'MERGE_FAILED' | 'HEALTH_FAILED'][] = [
    [
      'refresh fails',
      () => (host.systemd.faults.refresh = (n) => (n === 2 ? failing() : undefined)),
      'MERGE_FAILED',
    ],
    [
      'status fails once after the switch',
      () => (host.systemd.faults.merged = (n) => (n === 1 ? failing() : undefined)),
      'MERGE_FAILED',
    ],
    [
      'status prints garbage (parse error)',
      () =>
        (host.systemd.faults.merged = (n) =>
          n === 1 ? new SyntaxError('Unexpected token') : undefined),
      'MERGE_FAILED',
    ],
    [
      'status leaves the extension out (skipped by systemd)',
      () => host.systemd.skipped.add('hello'),
      'MERGE_FAILED',
    ],
    [
      'losetup fails',
      () =>
        (host.systemd.faults.loopBackedBy = (n) =>
          n === 1 ? new Error('losetup: EIO') : undefined),
      'MERGE_FAILED',
    ],
    [
      'the health check fails',
      () => host.health.answers.set('hello@2.0', { ok: false, detail: 'exit 1' }),
      'HEALTH_FAILED',
    ],
    [
      'the health check cannot start',
      () => host.health.answers.set('hello@2.0', new Error('spawn ENOENT')),
      'HEALTH_FAILED',
    ],
  ];
  it.each(cases)('%s', async (_what, arrange, code) => {
    const state = await installed();
    arrange();
    // `skipped` hides hello also on the way back; the proof of 1.0 must still see it.
    if (host.systemd.skipped.size > 0) {
      let calls = 0;
      const merged = host.systemd.merged;
      host.systemd.merged = async (t) => (++calls > 1 && host.systemd.skipped.clear(), merged(t));
    }
    const outcome = await runTransaction(host.env(), state, 'update', upgrade());
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe(code);
    expect(outcome.rollbackFailed).toBeUndefined();
    expect(exitCodeOf(outcome)).toBe(3);
    expect(exitCodeFor(code)).toBe(3);
    expect(await linked()).toBe('1.0');
    expect(host.systemd.live.get('sysext:hello')).toContain('hello_1.0.raw');
    expect(journalLeft()).toBe(false);
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.hello?.current).toBe('1.0');
    expect(saved.extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
    expect(saved.extensions.hello?.quarantined[0]?.reason).toContain('hello');
  });

  it('a proof failing for one extension of three switches all three back', async () => {
    const state = await installed(NAMES);
    let calls = 0;
    const loop = host.systemd.loopBackedBy;
    // The second extension's new image is not the one merged (systemd kept the old one).
    host.systemd.loopBackedBy = async (image) =>
      ++calls === 2 && image.includes('b_2.0') ? false : loop(image);
    const outcome = await runTransaction(host.env(), state, 'update', upgrade(NAMES));
    expect(outcome.ok).toBe(false);
    expect(Object.keys(outcome.failures)).toEqual(['b']);
    for (const n of NAMES) expect(await linked(n)).toBe('1.0');
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.b?.quarantined.map((q) => q.version)).toEqual(['2.0']);
    expect(saved.extensions.a?.quarantined).toEqual([]);
    expect(saved.extensions.a?.lastResult?.message).toBe(
      'rolled back with the rest of the transaction',
    );
    expect(host.health.runs).toEqual([]);
  });

  it('a health check failing for the first of two stops before the second', async () => {
    const state = await installed(['a', 'b']);
    host.health.answers.set('a@2.0', { ok: false, detail: 'exit 1' });
    const outcome = await runTransaction(host.env(), state, 'update', upgrade(['a', 'b']));
    expect(outcome.code).toBe('HEALTH_FAILED');
    expect(host.health.runs.map((r) => r.name)).toEqual(['a']);
    expect([await linked('a'), await linked('b')]).toEqual(['1.0', '1.0']);
  });
});

describe('the way back is logged for the operator', () => {
  it('one error line for the failure, one line per undo step, one line for the end', async () => {
    const { pino } = await import('pino');
    const lines: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) },
    );
    const state = await installed();
    host.health.answers.set('hello@2.0', { ok: false, detail: 'exit 1' });
    const outcome = await runTransaction(host.env({ log }), state, 'update', upgrade());
    expect(outcome.code).toBe('HEALTH_FAILED');
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/exit 1.*switching hello back/);
    const steps = lines.filter((l) => /^way back, step \d+\/\d+ /.test(l.msg));
    expect(steps.map((l) => /^way back, step \d+\/\d+ (.+?): /.exec(l.msg)?.[1])).toEqual(
      backSteps({ moves: upgrade(), refresh: true } as never).map((s) => s.id),
    );
    expect(steps.every((l) => l.level === 30)).toBe(true);
    expect(lines.at(-1)?.msg).toMatch(/^way back complete/);
  });
});

describe('the way back fails: exit 4, journal kept, a later recover completes it', () => {
  it('status always fails', async () => {
    const state = await installed();
    host.systemd.faults.merged = () => failing('status: Connection refused');
    const outcome = await runTransaction(host.env(), state, 'update', upgrade());
    expect(outcome.ok).toBe(false);
    expect(outcome.rollbackFailed).toContain('Connection refused');
    expect(exitCodeOf(outcome)).toBe(4);
    expect(await linked()).toBe('1.0');
    expect((await readJournal(host.paths))?.phase).toBe('back');
    // With systemd working again, the next command's recover finishes the way back.
    host.systemd.faults = {};
    const report = await recover(host.paths, host.env().log, ports());
    expect(report).toMatchObject({ recovered: true, phase: 'back', outcome: 'rolled-back' });
    expect(journalLeft()).toBe(false);
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.hello?.current).toBe('1.0');
    expect(saved.extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
  });

  it('recover with systemd still broken: ROLLBACK_FAILED and the journal stays', async () => {
    const state = await installed();
    host.systemd.faults.merged = () => failing();
    await runTransaction(host.env(), state, 'update', upgrade());
    await expect(recover(host.paths, host.env().log, ports())).rejects.toMatchObject({
      code: 'ROLLBACK_FAILED',
    });
    expect(journalLeft()).toBe(true);
  });

  const back = backSteps({ moves: upgrade(), refresh: true }).map((s) => s.id);
  it.each([...back, 'record-failure'])('a failure at %s', async (step) => {
    const state = await installed();
    host.health.answers.set('hello@2.0', { ok: false, detail: 'exit 1' });
    const env = host.env({
      onStep: (s) => {
        if (s === step) throw new Error(`EIO at ${s}`);
      },
    });
    const outcome = await runTransaction(env, state, 'update', upgrade());
    expect(exitCodeOf(outcome)).toBe(4);
    expect(outcome.rollbackFailed).toContain(`EIO at ${step}`);
    expect(journalLeft()).toBe(true);
    await recover(host.paths, host.env().log, ports());
    expect(journalLeft()).toBe(false);
    expect(await linked()).toBe('1.0');
    expect(host.systemd.live.get('sysext:hello')).toContain('hello_1.0.raw');
    expect((await readState(host.paths.stateFile)).extensions.hello?.quarantined).toHaveLength(1);
  });
});

describe('a proven run that cannot be recorded', () => {
  it('is COMMIT_FAILED (exit 4); recover completes it', async () => {
    const state = await installed();
    const env = host.env({
      onStep: (s) => {
        if (s === 'commit') throw new Error('ENOSPC');
      },
    });
    const err = await runTransaction(env, state, 'update', upgrade()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COMMIT_FAILED' });
    expect(exitCodeFor('COMMIT_FAILED')).toBe(4);
    expect((await readJournal(host.paths))?.phase).toBe('commit');
    const report = await recover(host.paths, host.env().log, ports());
    expect(report.outcome).toBe('completed');
    expect(await linked()).toBe('2.0');
    expect((await readState(host.paths.stateFile)).extensions.hello?.current).toBe('2.0');
  });
});

/** A promise that never settles: the run stops at that step as if the process had died. */
const never = new Promise<void>(() => undefined);

describe('a crash at every journal step, then recover', () => {
  const fwd = ['begin', ...forwardSteps({ moves: upgrade(), refresh: true }).map((s) => s.id)];
  const back = backSteps({ moves: upgrade(), refresh: true }).map((s) => s.id);
  const cases: [string, boolean, string | null][] = [
    ...fwd.map((s): [string, boolean, string] => [s, false, '1.0']),
    ['commit', false, '2.0'],
    ...[...back, 'record-failure'].map((s): [string, boolean, string] => [s, true, '1.0']),
  ];
  it.each(cases)('crash at %s (failing run: %s) ends at %s', async (step, failingRun, expected) => {
    const state = await installed();
    if (failingRun) host.health.answers.set('hello@2.0', { ok: false, detail: 'exit 1' });
    let reached!: () => void;
    const stopped = new Promise<void>((r) => (reached = r));
    const env = host.env({
      onStep: (s) => {
        if (s !== step) return undefined;
        reached();
        return never;
      },
    });
    void runTransaction(env, state, 'update', upgrade());
    await stopped;
    const report = await recover(host.paths, host.env().log, ports());
    expect(report.recovered).toBe(true);
    expect(journalLeft()).toBe(false);
    expect(await linked()).toBe(expected);
    expect(host.systemd.live.get('sysext:hello')).toContain(`hello_${expected}.raw`);
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.hello?.current).toBe(expected);
    const quarantined = saved.extensions.hello?.quarantined.map((q) => q.version);
    expect(quarantined).toEqual(failingRun ? ['2.0'] : []);
    // A crash while 2.0 was live but unproven counts an interruption.
    const live = ['refresh', 'prove', 'health:hello'].includes(step) && !failingRun;
    expect(saved.extensions.hello?.interrupted['2.0'] ?? 0).toBe(live ? 1 : 0);
  });
});

describe('rollback and remove through the same description', () => {
  it('rollback: 2.0 -> 1.0, the version left is quarantined', async () => {
    const state = await installed();
    await runTransaction(host.env(), state, 'update', upgrade());
    const outcome = await runTransaction(host.env(), state, 'rollback', [
      { name: 'hello', kind: 'sysext', from: '2.0', to: '1.0' },
    ]);
    expect(outcome.ok).toBe(true);
    expect(await linked()).toBe('1.0');
    const saved = await readState(host.paths.stateFile);
    expect(saved.extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
  });

  it('remove: unmerged, proven gone, store deleted', async () => {
    const state = await installed();
    const outcome = await runTransaction(host.env(), state, 'remove', [
      { name: 'hello', kind: 'sysext', from: '1.0', to: null },
    ]);
    expect(outcome.ok).toBe(true);
    expect(await linked()).toBeNull();
    expect(host.systemd.live.has('sysext:hello')).toBe(false);
    expect(existsSync(join(host.paths.imagesDir, 'hello'))).toBe(false);
    expect((await readState(host.paths.stateFile)).extensions.hello).toBeUndefined();
  });

  it('remove whose unmerge cannot be proven goes back to the old version', async () => {
    const state = await installed();
    let calls = 0;
    const merged = host.systemd.merged;
    // status still lists hello after the refresh that should have removed it
    host.systemd.merged = async (t) => (++calls === 1 ? new Map([['/usr', ['hello']]]) : merged(t));
    const outcome = await runTransaction(host.env(), state, 'remove', [
      { name: 'hello', kind: 'sysext', from: '1.0', to: null },
    ]);
    expect(exitCodeOf(outcome)).toBe(3);
    expect(await linked()).toBe('1.0');
    expect(existsSync(join(host.paths.imagesDir, 'hello'))).toBe(true);
  });
});

describe('recover', () => {
  /** Runs `moves` until the journal records `step`, then stops there like a killed process. */
  async function crashAt(
    step: string,
    state: AgentState,
    command: 'update' | 'remove',
    moves: Move[],
  ) {
    let reached!: () => void;
    const stopped = new Promise<void>((r) => (reached = r));
    const env = host.env({
      onStep: (s) => (s === step ? (reached(), never) : undefined),
    });
    void runTransaction(env, state, command, moves);
    await stopped;
  }

  it('completing a proven run whose refresh fails: ROLLBACK_FAILED, then completed', async () => {
    await crashAt('commit', await installed(), 'update', upgrade());
    host.systemd.faults.refresh = () => failing('refresh: Device or resource busy');
    await expect(recover(host.paths, host.env().log, ports())).rejects.toMatchObject({
      code: 'ROLLBACK_FAILED',
    });
    expect((await readJournal(host.paths))?.phase).toBe('commit');
    host.systemd.faults = {};
    expect((await recover(host.paths, host.env().log, ports())).outcome).toBe('completed');
    expect(journalLeft()).toBe(false);
    expect((await readState(host.paths.stateFile)).extensions.hello?.current).toBe('2.0');
  });

  it('a remove cut off after it was proven is completed: store and state gone', async () => {
    await crashAt('commit', await installed(), 'remove', [
      { name: 'hello', kind: 'sysext', from: '1.0', to: null },
    ]);
    expect(existsSync(join(host.paths.imagesDir, 'hello'))).toBe(true);
    expect((await recover(host.paths, host.env().log, ports())).outcome).toBe('completed');
    expect(await linked()).toBeNull();
    expect(existsSync(join(host.paths.imagesDir, 'hello'))).toBe(false);
    expect((await readState(host.paths.stateFile)).extensions.hello).toBeUndefined();
  });

  it('with no journal only checks the state', async () => {
    await installed();
    expect(await recover(host.paths, host.env().log, ports())).toEqual({
      recovered: false,
      tempFilesRemoved: 0,
    });
  });

  it('refuses a journal it did not write: STATE_CORRUPT', async () => {
    await installed();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(journalPath(host.paths), '{"schema": 1, "phase": "sideways"}');
    await expect(recover(host.paths, host.env().log, ports())).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
    });
    expect(await readFile(journalPath(host.paths), 'utf8')).toContain('sideways');
  });
});
