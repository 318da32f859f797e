// compareVersions() against the examples of the UAPI Group version format specification and
// systemd's test-string-util.c (TEST(strverscmp_improved), TEST(strverscmp_improved_rpm)),
// then against the real `systemd-analyze compare-versions` on random pairs (PRODUCT.md §3:
// systemd-analyze is the oracle).
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, newestVersion, sortVersions } from '../../src/version/compare.ts';

type Op = '<' | '==' | '>';
type Case = readonly [string, Op, string];
const OP_VALUE = { '<': -1, '==': 0, '>': 1 } as const;

/** test-string-util.c: every entry is older than every later one. */
const ORDERED = [
  '~1', '', 'ab', 'abb', 'abc', '0001', '002', '12', '122', '122.9', '123~rc1', '123', '123-a',
  '123-a.1', '123-a1', '123-a1.1', '123-3', '123-3.1', '123^patch1', '123^1', '123.a-1',
  '123.1-1', '123a-1', '124',
]; // prettier-ignore

const CASES: readonly Case[] = [
  // UAPI version format specification, "Examples". Older copies of the spec list `0 < ~` and
  // '' < `~`; systemd (and the spec since uapi-group/specifications PR #62) says the opposite.
  ['11', '==', '11'], ['systemd-123', '==', 'systemd-123'], ['bar-123', '<', 'foo-123'],
  ['123a', '>', '123'], ['123.a', '>', '123'], ['123.a', '<', '123.b'], ['123a', '>', '123.a'],
  ['11α', '==', '11β'], ['A', '<', 'a'], ['', '<', '0'], ['0.', '>', '0'], ['0.0', '>', '0'],
  ['0', '>', '~'], ['', '>', '~'],
  // Version/release pairs and prefixes.
  ['systemd-123', '<', 'systemd-124'], ['123.45-67.88', '<', '123.45-67.89'],
  ['123.45-67.ab', '<', '123.45-67.89'], ['123-99.99', '<', '123.45-67.89'],
  ['123~rc1-99.99', '<', '123~rc2-67.89'], ['123^45-67.89', '<', '123.45-67.89'],
  ['123^aa2-67.89', '<', '123aa2-67.89'], ['123.aa2-67.89', '<', '123aa2-67.89'],
  ['1~rc1', '<', '1'], ['1^post', '>', '1'], ['1.0~rc1~git123', '<', '1.0~rc1'],
  // The spec's prose says a `^` segment "compares higher"; in systemd it only beats the end of
  // the string, `-` and `~`, and loses to `.`, digits and letters.
  ['^', '<', '.'], ['1^a', '<', '1a'], ['1^', '>', '1-'], ['1.0^git1', '<', '1.01'],
  ['1.0^20160101', '<', '1.0.1'], ['1.0^git1~pre', '<', '1.0^git1'],
  // Invalid characters (`_`, `+`, non-ASCII) vanish, but still end a segment.
  ['123_aa2-67.89', '==', '123aa+2-67.89'], ['1.0', '<', '1_0'], ['2_0', '>', '2.0'],
  ['12_3', '<', '123'], ['12_3', '>', '12.3'], ['123_0', '>', '123'], ['123..0', '<', '123.0'],
  ['0_', '==', '0'], ['_0_', '==', '0'], ['', '==', '_'], ['+', '==', '_'], ['a+', '==', 'a_'],
  ['1.1.α', '==', '1.1.ββ'],
  // Leading zeros, numbers vs letters. The spec reads an empty number as 0; systemd lets any
  // number, even 0, beat no number.
  ['1.a', '<', '1.0'], ['10.0001', '==', '10.1'], ['4.999.9', '<', '5.0'], ['xyz.4', '<', '2'],
  ['6.0.rc1', '>', '6.0'], ['10xyz', '>', '10.1xyz'], ['1b.fc17', '>', '1.fc17'],
  ['1.0a', '<', '1.0aa'],
  // Quirks found against systemd 252 (see compare.ts): invalid characters are not skipped
  // right after a prefix, a prefix can meet the end of the other string, and on x86_64 a
  // non-ASCII byte met at the end check sorts below the end of the string (signed `char`).
  ['~_1', '<', '~1'], ['1-', '>', '1-^'], ['1^', '>', '1^.'], ['1.', '<', '1.-'],
  ['~', '<', '~_'], ['1\0junk', '==', '1'],
]; // prettier-ignore

/** Cases whose result depends on the platform's `char` signedness (x86_64 only). */
const SIGNED_CHAR_CASES: readonly Case[] = [
  ['~', '>', '~é'],
  ['1~é', '<', '1~'],
];

function allCases(): Case[] {
  const ordered = ORDERED.flatMap((a, i) => ORDERED.slice(i + 1).map((b): Case => [a, '<', b]));
  const signed = process.arch === 'x64' ? SIGNED_CHAR_CASES : [];
  return [...ordered, ...CASES, ...signed];
}

describe('compareVersions: specification and systemd test examples', () => {
  it.each(allCases())('%j %s %j', (a, op, b) => {
    expect(compareVersions(a, b)).toBe(OP_VALUE[op]);
    expect(compareVersions(b, a)).toBe(-OP_VALUE[op] || 0);
  });
});

describe('newestVersion / sortVersions', () => {
  it('sorts ascending and picks the newest', () => {
    const shuffled = [...ORDERED].reverse();
    expect(sortVersions(shuffled)).toEqual(ORDERED);
    expect(newestVersion(shuffled)).toBe('124');
    expect(shuffled[0]).toBe('124'); // the input is not modified
  });

  it('keeps input order among equal versions', () => {
    expect(sortVersions(['1.1', '10.0001', '1.01', '10.1'])).toEqual([
      '1.1',
      '1.01',
      '10.0001',
      '10.1',
    ]);
    expect(newestVersion(['2.01', '1', '2.1'])).toBe('2.01');
    expect(newestVersion([])).toBeUndefined();
  });
});

// Characters versions may hold (PRODUCT.md §3), few of each kind so that segments collide.
const charArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('0', '1', '2', '9') },
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'z', 'A', 'Z') },
  { weight: 4, arbitrary: fc.constantFrom('.', '_', '~', '^', '+', '-') },
);
const versionArb = fc.string({ unit: charArb, maxLength: 10 });

/** Edits `s` at a few positions so that the two versions share most of their text. */
const editArb = fc.record({
  kind: fc.constantFrom('insert', 'delete', 'replace', 'truncate'),
  at: fc.nat(),
  ch: charArb,
});
function applyEdit(s: string, e: { kind: string; at: number; ch: string }): string {
  const i = e.at % (s.length + 1);
  if (e.kind === 'insert') return s.slice(0, i) + e.ch + s.slice(i);
  if (e.kind === 'delete') return s.slice(0, i) + s.slice(i + 1);
  if (e.kind === 'replace') return s.slice(0, i) + e.ch + s.slice(i + 1);
  return s.slice(0, i);
}
const mutatedPairArb = fc
  .tuple(versionArb, fc.array(editArb, { minLength: 1, maxLength: 3 }), versionArb, fc.boolean())
  .map(([a, edits, tail, swap]): [string, string] => {
    // Half the time both also get the same new tail, so that the edit is not the last segment.
    const b = edits.reduce(applyEdit, a) + (swap ? tail : '');
    return swap ? [a + tail, b] : [b, a];
  });
const pairArb = fc.oneof(
  { weight: 8, arbitrary: mutatedPairArb },
  { weight: 1, arbitrary: versionArb.map((a): [string, string] => [a, a]) },
  { weight: 2, arbitrary: fc.tuple(versionArb, versionArb) },
);

describe('compareVersions: properties', () => {
  it('is antisymmetric and reflexive', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(compareVersions(a, b)).toBe(-compareVersions(b, a) || 0);
        expect(compareVersions(a, a)).toBe(0);
      }),
      { numRuns: 5000 },
    );
  });
});

// --- Oracle: the real systemd-analyze ---------------------------------------------------------

const PAIRS = 1000;
const WORKERS = 2;
const SEED = Number(process.env.VERSION_ORACLE_SEED ?? 20261126);

// One bash per worker runs systemd-analyze for each NUL-separated pair on stdin and prints its
// exit status: spawning from bash costs about half of spawning from Node. `--` keeps versions
// starting with `-` from being taken for options.
const ORACLE_SCRIPT = `while IFS= read -r -d '' a && IFS= read -r -d '' b; do
  systemd-analyze compare-versions -- "$a" "$b" >/dev/null 2>&1; echo $?
done`;

/** `systemd-analyze compare-versions A B` exits 0 for ==, 11 for >, 12 for < (probed below). */
const EXIT_VALUE = new Map<number, -1 | 0 | 1>([
  [0, 0],
  [11, 1],
  [12, -1],
]);

/** What a C program sees of `s`: argv cannot hold NUL, and C strings end at the first one. */
function cString(s: string): string {
  return s.split('\0', 1)[0] ?? '';
}

function oracleInput(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([a, b]) => `${cString(a)}\0${cString(b)}\0`).join('');
}

function parseExits(stdout: string): (-1 | 0 | 1 | undefined)[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => EXIT_VALUE.get(Number(line)));
}

/** Why the oracle cannot run here, or undefined if it can. */
function oracleUnavailable(): string | undefined {
  const probe = spawnSync('systemd-analyze', ['compare-versions', '--', '1~rc1', '1'], {
    encoding: 'utf8',
  });
  if (probe.error) return `systemd-analyze not runnable: ${probe.error.message}`;
  if (probe.status !== 12 || probe.stdout.trim() !== '1~rc1 < 1') {
    return `no compare-versions verb: exit ${probe.status}, ${probe.stderr.trim()}`;
  }
  const batch = spawnSync('bash', ['-c', ORACLE_SCRIPT], {
    input: oracleInput([
      ['2', '1'],
      ['1', '1'],
      ['1', '2'],
    ]),
    encoding: 'utf8',
  });
  if (batch.error) return `bash not runnable: ${batch.error.message}`;
  const got = parseExits(batch.stdout).join();
  return got === '1,0,-1' ? undefined : `unexpected exit statuses for >, ==, <: ${got}`;
}

function oracleBatch(pairs: readonly (readonly [string, string])[]): Promise<(-1 | 0 | 1)[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', ORACLE_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', () => {
      const got = parseExits(stdout);
      const bad = got.findIndex((v) => v === undefined);
      if (got.length !== pairs.length || bad >= 0) {
        reject(new Error(`oracle failed at pair ${bad} of ${pairs.length}: ${stdout.slice(-200)}`));
      } else resolve(got as (-1 | 0 | 1)[]);
    });
    child.stdin.end(oracleInput(pairs));
  });
}

/** Splits the pairs over WORKERS bash processes; results come back in input order. */
async function oracle(pairs: readonly (readonly [string, string])[]): Promise<(-1 | 0 | 1)[]> {
  const chunk = Math.ceil(pairs.length / WORKERS);
  const parts = Array.from({ length: WORKERS }, (_, k) =>
    oracleBatch(pairs.slice(k * chunk, (k + 1) * chunk)),
  );
  return (await Promise.all(parts)).flat();
}

/** PAIRS distinct pairs, deterministic for a given seed. */
function drawPairs(): [string, string][] {
  const unique = new Map<string, [string, string]>();
  for (let seed = SEED; unique.size < PAIRS; seed++) {
    for (const p of fc.sample(pairArb, { seed, numRuns: PAIRS })) {
      if (unique.size < PAIRS) unique.set(JSON.stringify(p), p);
    }
  }
  return [...unique.values()];
}

const unavailable = oracleUnavailable();
if (unavailable) console.warn(`skipping systemd-analyze oracle tests: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('compareVersions vs systemd-analyze', () => {
  it('agrees on every example above', async () => {
    const cases = allCases();
    const got = await oracle(cases.map(([a, , b]) => [a, b] as const));
    const wrong = cases.filter(([, op], i) => got[i] !== OP_VALUE[op]);
    expect(wrong).toEqual([]);
  });

  it(`agrees on ${PAIRS} random pairs (seed ${SEED})`, async () => {
    const pairs = drawPairs();
    const started = performance.now();
    const expected = await oracle(pairs);
    const ms = Math.round(performance.now() - started);
    console.log(`compared ${pairs.length} pairs with systemd-analyze in ${ms} ms`);
    const mismatches = pairs
      .map(([a, b], i) => ({ a, b, systemd: expected[i], ours: compareVersions(a, b) }))
      .filter((m) => m.systemd !== m.ours);
    expect(mismatches).toEqual([]);
  });
});
