// Oracle: compareVersions() agrees with the real `systemd-analyze compare-versions` (PRODUCT.md
// §3: systemd-analyze is the oracle) on every example of ./cases.ts and on random pairs. Under
// CI a missing systemd-analyze fails this file (test/helpers/requirements.ts).
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/version/compare.ts';
import { missing } from '../helpers/requirements.ts';
import { OP_VALUE, allCases, pairArb } from './cases.ts';

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

describe.skipIf(missing('systemd-analyze'))('compareVersions vs systemd-analyze', () => {
  // The exit statuses the comparisons below are read from: a systemd-analyze without the
  // compare-versions verb (systemd < 252), or with other statuses, fails here, not silently.
  it('systemd-analyze compare-versions exits 11, 0, 12 for >, ==, <', async () => {
    const probe = spawnSync('systemd-analyze', ['compare-versions', '--', '1~rc1', '1'], {
      encoding: 'utf8',
    });
    expect(probe.error).toBeUndefined();
    expect({ status: probe.status, stdout: probe.stdout.trim() }, probe.stderr).toEqual({
      status: 12,
      stdout: '1~rc1 < 1',
    });
    expect(
      await oracle([
        ['2', '1'],
        ['1', '1'],
        ['1', '2'],
      ]),
    ).toEqual([1, 0, -1]);
  });

  it('agrees on every example of ./cases.ts', async () => {
    const cases = allCases();
    const got = await oracle(cases.map(([a, , b]) => [a, b] as const));
    const wrong = cases.filter(([, op], i) => got[i] !== OP_VALUE[op]);
    expect(wrong).toEqual([]);
  });

  it(`agrees on ${PAIRS} random pairs (seed ${SEED})`, async () => {
    const pairs = drawPairs();
    const expected = await oracle(pairs);
    expect(expected).toHaveLength(PAIRS);
    const mismatches = pairs
      .map(([a, b], i) => ({ a, b, systemd: expected[i], ours: compareVersions(a, b) }))
      .filter((m) => m.systemd !== m.ours);
    expect(mismatches).toEqual([]);
  });
});
