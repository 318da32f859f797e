/**
 * Fuzzing the journal loader (issue 11): whatever journal.json holds (arbitrary bytes,
 * arbitrary JSON, a valid journal with values replaced, members deleted, keys renamed to `..`,
 * "", `__proto__`, `constructor`...), parseJournal gives a valid journal or STATE_CORRUPT: never
 * another error, never a crash. A journal it accepts is safe for `recover` to act on: every
 * path built from its names and versions stays in its directory, its steps can be planned, and
 * what it means for the state (success, failure, interruption) is a state that can be written.
 * 10,000 cases per fuzz property per run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { AgentError } from '../../src/errors.ts';
import { applyFailure, applyInterrupted, applySuccess } from '../../src/plan/effects.ts';
import { activationEntries, storeDir, storedImage } from '../../src/store/layout.ts';
import { emptyState, isStateProblem, parseState } from '../../src/store/state.ts';
import { parseJournal, type Journal } from '../../src/transaction/journal.ts';
import { backSteps, forwardSteps, recoveryOf } from '../../src/transaction/steps.ts';
import { isValidName } from '../../src/version/syntax.ts';
import { arbitraryText, HOSTILE, OBJECT_MEMBERS, mutate, mutationArb, tally } from './mutate.ts';

const RUNS = { numRuns: 10_000 };
const CONTROL_RUNS = { numRuns: 2_000 };
const FILE = '/fuzz/journal.json';
const paths = hostPaths('/fuzz/root');
const NOW = new Date('2026-11-26T12:00:00Z');

const ALNUM = [...'abcxyzAZ0129'];
const word = (more: string) =>
  fc
    .tuple(
      fc.constantFrom(...ALNUM),
      fc.string({ unit: fc.constantFrom(...ALNUM, ...more), maxLength: 8 }),
    )
    .map(([a, b]) => a + b);
const nameArb = fc.oneof(fc.constantFrom('hello', 'a.b+c', ...OBJECT_MEMBERS), word('.+-'));
const versionArb = fc.oneof(fc.constantFrom('1.0', '2.0', ...OBJECT_MEMBERS), word('._~^+-'));
const moveArb = (name: string) =>
  fc.record({
    name: fc.constant(name),
    kind: fc.constantFrom('sysext', 'confext'),
    from: fc.option(versionArb),
    to: fc.option(versionArb),
    fromSidecars: fc.boolean(),
  });
/** Valid journals, Object members as names included. */
const validArb = fc.uniqueArray(nameArb, { minLength: 1, maxLength: 3 }).chain((names) =>
  fc.record({
    schema: fc.constant(1),
    command: fc.constantFrom('update', 'rollback', 'remove'),
    phase: fc.constantFrom('forward', 'back', 'commit'),
    step: fc.oneof(
      fc.constantFrom('begin', 'refresh', 'prove', 'revert-refresh', 'revert-prove', 'commit'),
      fc
        .tuple(fc.constantFrom('switch', 'revert', 'health'), fc.constantFrom(...names))
        .map(([s, n]) => `${s}:${n}`),
    ),
    moves: fc.tuple(...names.map(moveArb)),
    failures: fc.dictionary(fc.constantFrom(...names), fc.string({ maxLength: 8 }), {
      maxKeys: 2,
    }),
    failureCode: fc.constantFrom('MERGE_FAILED', 'HEALTH_FAILED'),
    sidecars: fc.boolean(),
    refresh: fc.boolean(),
    root: fc.option(fc.constant('/fuzz/root')),
    startedAt: fc.constant(NOW.toISOString()),
  }),
);

const { seen, counted } = tally();

/** What `recover` would do with an accepted journal, without I/O; what went wrong, if anything. */
function flaws(journal: Journal): string[] {
  const out: string[] = [];
  const expectThat = (ok: boolean, what: string) => ok || out.push(what);
  for (const m of journal.moves) {
    const dir = storeDir(paths, m.name);
    expectThat(dir.startsWith(`${paths.imagesDir}/`), `store dir of ${m.name}`);
    const link = activationEntries(paths, m.kind, m.name).image;
    expectThat(
      link.startsWith(`${paths.sysextDir}/`) || link.startsWith(`${paths.confextDir}/`),
      `link of ${m.name}`,
    );
    for (const v of [m.from, m.to])
      if (v !== null)
        expectThat(storedImage(paths, m.name, v).image.startsWith(`${dir}/`), `${m.name} ${v}`);
  }
  forwardSteps(journal);
  backSteps(journal);
  recoveryOf(journal);
  // Object members are failures only when the journal has them.
  for (const member of OBJECT_MEMBERS)
    expectThat(
      Object.hasOwn(journal.failures, member) || journal.failures[member] === undefined,
      `failure ${member}`,
    );
  const stored = new Map<string, string[]>();
  for (const apply of [
    (s: ReturnType<typeof emptyState>) =>
      applySuccess(s, journal.command, journal.moves, stored, NOW),
    (s: ReturnType<typeof emptyState>) =>
      applyFailure(s, journal.command, journal.moves, journal.failures, stored, NOW),
    (s: ReturnType<typeof emptyState>) => applyInterrupted(s, journal, NOW),
  ]) {
    const state = emptyState();
    apply(state);
    expectThat(
      !isStateProblem(parseState(JSON.stringify(state), 'state')),
      'a state that cannot be written',
    );
  }
  return out;
}

function check(text: string): Journal | null {
  let journal: Journal;
  try {
    journal = parseJournal(text, FILE);
  } catch (err) {
    const coded = err instanceof AgentError && err.code === 'STATE_CORRUPT';
    if (!coded || !err.message.includes(FILE))
      throw new Error(`parseJournal threw an uncoded error: ${String(err)}`, { cause: err });
    seen.refused++;
    return null;
  }
  const found = flaws(journal);
  if (found.length > 0) expect(found).toEqual([]);
  seen.accepted++;
  return journal;
}

describe('journal loader (fast-check, 10,000 cases per fuzz property)', () => {
  it('arbitrary JSON: a valid journal or STATE_CORRUPT', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(fc.json({ maxDepth: 4 }), (text) => {
          check(text);
        }),
        RUNS,
      ),
    );
    expect(n.refused).toBeGreaterThan(0);
  });

  it('arbitrary text and bytes: STATE_CORRUPT, never a crash', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(arbitraryText, (text) => {
          check(text);
        }),
        RUNS,
      ),
    );
    expect(n.refused).toBe(RUNS.numRuns);
  });

  it('valid journals are accepted, Object members as names included', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(validArb, (doc) => {
          check(JSON.stringify(doc));
        }),
        CONTROL_RUNS,
      ),
    );
    expect(n).toEqual({ accepted: CONTROL_RUNS.numRuns, refused: 0 });
  });

  it('mutated valid journals: a valid journal or STATE_CORRUPT; hostile names never accepted', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(validArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (doc, ms) => {
          const journal = check(mutate(doc, ms));
          if (journal === null) return;
          const bad = journal.moves.filter((m) => !isValidName(m.name));
          if (bad.length > 0) expect(bad).toEqual([]);
        }),
        RUNS,
      ),
    );
    expect(n.accepted).toBeGreaterThan(500);
    expect(n.refused).toBeGreaterThan(500);
  });

  it('each hostile name, version and step is refused', () => {
    const good = {
      schema: 1,
      command: 'remove',
      phase: 'commit',
      step: 'commit',
      moves: [{ name: 'hello', kind: 'sysext', from: '1.0', to: null }],
      failures: {},
      sidecars: false,
      refresh: false,
      root: null,
      startedAt: NOW.toISOString(),
    };
    expect(parseJournal(JSON.stringify(good), FILE).moves[0]?.name).toBe('hello');
    const refused = (doc: unknown, text = JSON.stringify(doc)) => {
      try {
        parseJournal(text, FILE);
        return false;
      } catch (err) {
        return err instanceof AgentError && err.code === 'STATE_CORRUPT';
      }
    };
    for (const bad of HOSTILE.filter((h) => !isValidName(h) && h !== '__proto__')) {
      expect(refused({ ...good, moves: [{ ...good.moves[0], name: bad }] }), bad).toBe(true);
      expect(refused({ ...good, moves: [{ ...good.moves[0], from: bad }] }), bad).toBe(
        !/^[A-Za-z0-9][A-Za-z0-9._~^+-]*$/.test(bad) || bad.length > 128,
      );
      expect(refused({ ...good, step: `switch:${bad}` }), bad).toBe(true);
      expect(refused({ ...good, failures: { [bad]: 'x' } }), bad).toBe(true);
    }
    const proto = JSON.stringify(good).replace('"failures":{', '"failures":{"__proto__":"x"');
    expect(refused(null, proto)).toBe(true);
    const escaped = JSON.stringify(good).replace(
      '"failures":{',
      '"failures":{"\\u005f_proto__":"x"',
    );
    expect(refused(null, escaped)).toBe(true);
    expect(refused({ ...good, moves: [good.moves[0], good.moves[0]] })).toBe(true);
    expect(refused({ ...good, step: 'rm -rf /' })).toBe(true);
  });
});
