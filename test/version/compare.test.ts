// compareVersions() against the examples of the UAPI Group version format specification and
// systemd's test-string-util.c (in ./cases.ts), and its properties on random pairs. The
// comparison with the real `systemd-analyze compare-versions` (the oracle, PRODUCT.md §3) is
// in compare.oracle.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, newestVersion, sortVersions } from '../../src/version/compare.ts';
import { OP_VALUE, ORDERED, allCases, pairArb } from './cases.ts';

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
