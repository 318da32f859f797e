/**
 * Fuzzing the version comparator (issue 11): compareVersions must be a total preorder on
 * versions, or sorting, "newest", keep and previous would depend on the order of the input.
 * 10,000 cases per property per run. Versions are drawn from what the rules allow (PRODUCT.md
 * section 3, src/version/syntax.ts: the agent never compares anything else), from a small
 * alphabet so that segments collide, and as edits of each other so that they share prefixes.
 * Agreement with systemd itself is test/version/compare.oracle.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, sortVersions } from '../../src/version/compare.ts';
import { isValidVersion } from '../../src/version/syntax.ts';

const RUNS = { numRuns: 10_000 };

const first = fc.constantFrom('0', '1', '2', '9', 'a', 'b', 'z', 'A', 'Z');
const rest = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('0', '1', '2', '9') },
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'z', 'A', 'Z') },
  { weight: 4, arbitrary: fc.constantFrom('.', '_', '~', '^', '+', '-') },
);
const version = fc.tuple(first, fc.string({ unit: rest, maxLength: 9 })).map(([f, r]) => f + r);

/** A version and a few edits of it: near neighbours, where comparators go wrong. */
const edit = fc.record({ at: fc.nat(), ch: rest, kind: fc.constantFrom('ins', 'del', 'set') });
function applyEdit(s: string, e: { at: number; ch: string; kind: string }): string {
  const i = 1 + (e.at % s.length); // the first character stays: still a valid version
  if (e.kind === 'ins') return s.slice(0, i) + e.ch + s.slice(i);
  if (e.kind === 'del') return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + e.ch + s.slice(i + 1);
}
const neighbour = (base: string) =>
  fc.array(edit, { minLength: 1, maxLength: 3 }).map((es) => es.reduce(applyEdit, base));
const triple = fc.oneof(
  fc.tuple(version, version, version),
  version.chain((a) => fc.tuple(fc.constant(a), neighbour(a), neighbour(a))),
);

const sign = (n: number) => Math.sign(n) || 0;

describe('compareVersions is a total order on valid versions (fast-check, 10,000 cases each)', () => {
  it('draws only valid versions', () => {
    fc.assert(
      fc.property(triple, (vs) => {
        expect(vs.filter((v) => !isValidVersion(v))).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('antisymmetry: compare(a, b) = -compare(b, a)', () => {
    fc.assert(
      fc.property(triple, ([a, b]) => {
        expect(sign(compareVersions(a, b))).toBe(-sign(compareVersions(b, a)) || 0);
      }),
      RUNS,
    );
  });

  it('transitivity: a <= b and b <= c give a <= c; a < b and b < c give a < c', () => {
    fc.assert(
      fc.property(triple, (vs) => {
        // Sorting puts every triple in the premise's order; then every pair must agree with it.
        const [a, b, c] = sortVersions(vs) as [string, string, string];
        expect(compareVersions(a, b)).toBeLessThanOrEqual(0);
        expect(compareVersions(b, c)).toBeLessThanOrEqual(0);
        expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
        if (compareVersions(a, b) < 0 && compareVersions(b, c) < 0)
          expect(compareVersions(a, c)).toBe(-1);
      }),
      RUNS,
    );
  });

  it('consistent with equality: equal strings compare 0, and versions that compare 0 are interchangeable', () => {
    fc.assert(
      fc.property(triple, ([a, b, c]) => {
        expect(compareVersions(a, a)).toBe(0);
        if (compareVersions(a, b) === 0) expect(compareVersions(a, c)).toBe(compareVersions(b, c));
      }),
      RUNS,
    );
  });

  it('equality is found, not only drawn: versions that differ only in `_` and `+` compare 0', () => {
    // Both are characters systemd skips, in the same places: swapping one for the other is no
    // change to the order (appending one is: after a `~` it is not skipped, a kept quirk).
    fc.assert(
      fc.property(version, version, (a, c) => {
        const b = a.replace(/[_+]/g, (ch) => (ch === '_' ? '+' : '_'));
        expect(compareVersions(a, b)).toBe(0);
        expect(compareVersions(a, c)).toBe(compareVersions(b, c));
      }),
      RUNS,
    );
  });
});
