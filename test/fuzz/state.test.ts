/**
 * Fuzzing the state loader (issue 11): whatever state.json holds (arbitrary bytes, arbitrary
 * JSON, a valid state with values replaced, members deleted, keys renamed to `..`, "",
 * `__proto__`, `constructor`...), parseState gives a valid state or STATE_CORRUPT: never another
 * error, never a crash. A state it accepts names only valid extensions and versions, every path
 * built from them stays in its directory, its records have no prototype (an extension called
 * `constructor` is found only when it is there), and it is written back unchanged.
 * 10,000 cases per fuzz property per run (2,000 valid documents as the control).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { AgentError } from '../../src/errors.ts';
import { currentVersion, ensureExtensionState, quarantineOf } from '../../src/plan/state-ops.ts';
import { activationEntries, storeDir, storedImage } from '../../src/store/layout.ts';
import {
  isStateProblem,
  parseState,
  unsafeEntryOf,
  type AgentState,
} from '../../src/store/state.ts';
import { isValidName, isValidVersion } from '../../src/version/syntax.ts';
import { arbitraryText, HOSTILE, OBJECT_MEMBERS, mutate, mutationArb, tally } from './mutate.ts';

const RUNS = { numRuns: 10_000 };
/** Valid documents are the control, not the fuzz: fewer of them keep the file fast. */
const CONTROL_RUNS = { numRuns: 2_000 };
const FILE = '/fuzz/state.json';
const paths = hostPaths('/fuzz/root');

const ALNUM = [...'abcxyzAZ0129'];
const word = (more: string) =>
  fc
    .tuple(
      fc.constantFrom(...ALNUM),
      fc.string({ unit: fc.constantFrom(...ALNUM, ...more), maxLength: 8 }),
    )
    .map(([a, b]) => a + b);
const nameArb = fc.oneof(
  fc.constantFrom('hello', 'site-config', 'a.b+c', ...OBJECT_MEMBERS),
  word('.+-'),
);
const versionArb = fc.oneof(
  fc.constantFrom('1.0', '2.0', '1~rc1', ...OBJECT_MEMBERS),
  word('._~^+-'),
);
const extArb = fc.record({
  kind: fc.constantFrom('sysext', 'confext'),
  current: fc.option(versionArb),
  previous: fc.option(versionArb),
  quarantined: fc.array(
    fc.record({
      version: versionArb,
      reason: fc.string(),
      at: fc.string(),
      activated: fc.boolean(),
    }),
    { maxLength: 2 },
  ),
  interrupted: fc.dictionary(versionArb, fc.nat(5), { maxKeys: 2 }),
  lastResult: fc.constant(null),
});
/** Valid state documents, Object members as names included. */
const validArb = fc.record({
  schema: fc.constant(1),
  manifest: fc.option(
    fc.record({ serial: fc.nat(), expires: fc.string(), acceptedAt: fc.string() }),
  ),
  extensions: fc.dictionary(nameArb, extArb, { maxKeys: 3 }),
});

/** What is wrong with an accepted state, if anything (plain checks: 10,000 runs stay fast). */
function flaws(state: AgentState): string[] {
  const out: string[] = [];
  const expectThat = (ok: boolean, what: string) => ok || out.push(what);
  expectThat(unsafeEntryOf(state) === null, 'unsafe entry');
  expectThat(Object.getPrototypeOf(state.extensions) === null, 'extensions has a prototype');
  for (const [name, ext] of Object.entries(state.extensions)) {
    expectThat(isValidName(name), `name ${name}`);
    expectThat(Object.getPrototypeOf(ext.interrupted) === null, 'interrupted has a prototype');
    const dir = storeDir(paths, name);
    expectThat(dir.startsWith(`${paths.imagesDir}/`), `store dir of ${name}`);
    const link = activationEntries(paths, ext.kind, name).image;
    expectThat(
      link.startsWith(`${paths.sysextDir}/`) || link.startsWith(`${paths.confextDir}/`),
      `link of ${name}`,
    );
    const versions = [ext.current, ext.previous, ...ext.quarantined.map((q) => q.version)];
    for (const v of [...versions, ...Object.keys(ext.interrupted)])
      if (v !== null) {
        expectThat(isValidVersion(v), `version ${v}`);
        expectThat(
          storedImage(paths, name, v).image.startsWith(`${dir}/`),
          `image of ${name} ${v}`,
        );
      }
  }
  // Object members are extensions only when the state has them.
  for (const member of OBJECT_MEMBERS) {
    const there = Object.hasOwn(state.extensions, member);
    expectThat(currentVersion(state, member) === null || there, `current of ${member}`);
    expectThat(quarantineOf(state, member).length === 0 || there, `quarantine of ${member}`);
  }
  // Written back and read again: the same state.
  const again = parseState(JSON.stringify(state), FILE);
  expectThat(
    !isStateProblem(again) && JSON.stringify(again) === JSON.stringify(state),
    'round trip',
  );
  return out;
}

const { seen, counted } = tally();

/** parseState never throws; a problem is STATE_CORRUPT; a state is safe to use. */
function check(text: string): AgentState | null {
  let result: ReturnType<typeof parseState>;
  try {
    result = parseState(text, FILE);
  } catch (err) {
    throw new Error(`parseState threw: ${String(err)}`, { cause: err });
  }
  if (isStateProblem(result)) {
    const coded = result.error instanceof AgentError && result.error.code === 'STATE_CORRUPT';
    if (!coded || !result.error.message.includes(FILE))
      expect(result.error.code).toBe('STATE_CORRUPT');
    seen.refused++;
    return null;
  }
  const found = flaws(result);
  if (found.length > 0) expect(found).toEqual([]);
  seen.accepted++;
  return result;
}

describe('state loader (fast-check, 10,000 cases per fuzz property)', () => {
  it('arbitrary JSON: a valid state or STATE_CORRUPT', () => {
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
    expect(n.refused).toBeGreaterThan(9000);
  });

  it('valid states are accepted as they are, Object members as names included', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(validArb, (doc) => {
          const state = check(JSON.stringify(doc));
          const same =
            state !== null &&
            JSON.stringify(Object.keys(state.extensions).sort()) ===
              JSON.stringify(Object.keys(doc.extensions).sort());
          if (!same) expect(state?.extensions).toEqual(doc.extensions);
          // Adding an Object member as a new extension works like any other name.
          if (state) for (const m of OBJECT_MEMBERS) ensureExtensionState(state, m, 'sysext');
          const added =
            state !== null && OBJECT_MEMBERS.every((m) => Object.hasOwn(state.extensions, m));
          if (!added || unsafeEntryOf(state) !== null)
            expect(state?.extensions).toBe('all members added');
        }),
        CONTROL_RUNS,
      ),
    );
    expect(n).toEqual({ accepted: CONTROL_RUNS.numRuns, refused: 0 });
  });

  it('mutated valid states: a valid state or STATE_CORRUPT; hostile names never accepted', () => {
    const n = counted(() =>
      fc.assert(
        fc.property(validArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (doc, ms) => {
          const text = mutate(doc, ms);
          const state = check(text);
          if (state === null) return;
          const accepted = HOSTILE.filter(
            (h) => !isValidName(h) && Object.hasOwn(state.extensions, h),
          );
          if (accepted.length > 0) expect(accepted).toEqual([]);
        }),
        RUNS,
      ),
    );
    // Both outcomes are exercised: the mutations are neither all fatal nor all harmless.
    expect(n.accepted).toBeGreaterThan(500);
    expect(n.refused).toBeGreaterThan(500);
  });

  it('each hostile name and version is refused as hostile, and `__proto__` too', () => {
    const base = { schema: 1, manifest: null, extensions: {} };
    for (const bad of HOSTILE.filter((h) => !isValidName(h))) {
      const doc = {
        ...base,
        extensions: { [bad]: { kind: 'sysext', current: '1.0', previous: null } },
      };
      const text =
        bad === '__proto__'
          ? JSON.stringify(doc).replace(
              '"extensions":{',
              '"extensions":{"__proto__":{"kind":"sysext","current":"1.0","previous":null},',
            )
          : JSON.stringify(doc);
      const r = parseState(text, FILE);
      expect(isStateProblem(r) && r.hostile && r.error.code === 'STATE_CORRUPT', bad).toBe(true);
    }
    for (const bad of HOSTILE.filter((h) => !isValidVersion(h))) {
      const doc = {
        ...base,
        extensions: { hello: { kind: 'sysext', current: null, previous: bad } },
      };
      const r = parseState(JSON.stringify(doc), FILE);
      expect(isStateProblem(r) && r.hostile && r.error.code === 'STATE_CORRUPT', bad).toBe(true);
    }
  });
});
