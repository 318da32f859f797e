// The version-order examples shared by compare.test.ts and compare.oracle.test.ts: the UAPI
// Group version format specification, systemd's test-string-util.c (TEST(strverscmp_improved),
// TEST(strverscmp_improved_rpm)) and quirks found against systemd 252, plus the arbitraries
// that draw random pairs.
import fc from 'fast-check';

export type Op = '<' | '==' | '>';
export type Case = readonly [string, Op, string];
export const OP_VALUE = { '<': -1, '==': 0, '>': 1 } as const;

/** test-string-util.c: every entry is older than every later one. */
export const ORDERED = [
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

export function allCases(): Case[] {
  const ordered = ORDERED.flatMap((a, i) => ORDERED.slice(i + 1).map((b): Case => [a, '<', b]));
  const signed = process.arch === 'x64' ? SIGNED_CHAR_CASES : [];
  return [...ordered, ...CASES, ...signed];
}

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
export const pairArb = fc.oneof(
  { weight: 8, arbitrary: mutatedPairArb },
  { weight: 1, arbitrary: versionArb.map((a): [string, string] => [a, a]) },
  { weight: 2, arbitrary: fc.tuple(versionArb, versionArb) },
);
