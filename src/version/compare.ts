// Version ordering per PRODUCT.md §3: "Versions are ordered as systemd orders them (UAPI Group
// version format specification, `systemd-analyze compare-versions` is the oracle)".
//
// This is a line-by-line port of systemd's strverscmp_improved()
// (src/fundamental/string-util-fundamental.c). Each loop iteration:
//   1. skips characters outside [A-Za-z0-9~^.-] (so `_` and `+` are separators that vanish),
//   2. `~` prefix: the side carrying it is older (pre-release),
//   3. end of either string: the longer one is newer,
//   4. `-`, `^`, `.` prefixes, checked once each in that order: the side carrying the prefix
//      the other lacks is older for `-`, `^` and `.` alike (no prefix is newest),
//   5. a numeric segment (leading zeros ignored) beats an alphabetic one; numbers compare by
//      value, letters by ASCII (so `A < a`), and a longer alphabetic run is newer.
// Where the prose of the UAPI spec disagrees (it says a `^` segment "compares higher" and an
// empty number counts as 0; older copies also had '' < `~`), systemd wins, as §3 demands.
// Quirks kept on purpose because the oracle has them: invalid characters are skipped only at
// the start of an iteration, not right after a prefix, and the C code compares `char`s, which
// are signed on x86_64, so in step 3 a non-ASCII byte sorts *below* the end of the string.

/** A position inside a version string, like the `const char *` cursors of the C code. */
interface Cursor {
  readonly s: string;
  i: number;
}

const TILDE = 0x7e;
const MINUS = 0x2d;
const CARET = 0x5e;
const DOT = 0x2e;
const ZERO = 0x30;

function cursor(s: string): Cursor {
  // A C string ends at the first NUL; anything after it is invisible to systemd.
  const nul = s.indexOf('\0');
  return { s: nul < 0 ? s : s.slice(0, nul), i: 0 };
}

/** The current code unit, or 0 at the end (the C string's terminating NUL). */
function peek(c: Cursor): number {
  return c.i < c.s.length ? c.s.charCodeAt(c.i) : 0;
}

function isDigit(ch: number): boolean {
  return ch >= 0x30 && ch <= 0x39;
}

function isAlpha(ch: number): boolean {
  return (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);
}

function isValidVersionChar(ch: number): boolean {
  return isDigit(ch) || isAlpha(ch) || ch === TILDE || ch === MINUS || ch === CARET || ch === DOT;
}

/** systemd's CMP(): booleans count as 0/1. */
function cmp(x: number | boolean, y: number | boolean): -1 | 0 | 1 {
  const a = Number(x);
  const b = Number(y);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How the C code sees a character as signed `char` on x86_64: non-ASCII (UTF-8) bytes are < 0. */
function signedChar(ch: number): number {
  return ch >= 0x80 ? -1 : ch;
}

function skipInvalid(c: Cursor): void {
  while (peek(c) !== 0 && !isValidVersionChar(peek(c))) c.i++;
}

/** Steps 2 and 4: the side with prefix `ch` is older; if both have it, consume it on both. */
function comparePrefix(a: Cursor, b: Cursor, ch: number): -1 | 0 | 1 {
  if (peek(a) !== ch && peek(b) !== ch) return 0;
  const r = cmp(peek(a) !== ch, peek(b) !== ch);
  if (r !== 0) return r;
  a.i++;
  b.i++;
  return 0;
}

/** End of the run of characters satisfying `pred` starting at the cursor. */
function runEnd(c: Cursor, pred: (ch: number) => boolean): number {
  let end = c.i;
  while (end < c.s.length && pred(c.s.charCodeAt(end))) end++;
  return end;
}

/** Step 5, numeric case: a number beats nothing; `00123 == 123`; longer is larger. */
function compareNumeric(a: Cursor, b: Cursor): -1 | 0 | 1 {
  const ea = runEnd(a, isDigit);
  const eb = runEnd(b, isDigit);
  let r = cmp(a.i !== ea, b.i !== eb);
  if (r !== 0) return r;
  while (peek(a) === ZERO) a.i++;
  while (peek(b) === ZERO) b.i++;
  r = cmp(ea - a.i, eb - b.i);
  if (r === 0) r = compareStrings(a.s.slice(a.i, ea), b.s.slice(b.i, eb));
  a.i = ea;
  b.i = eb;
  return r;
}

/** Step 5, alphabetic case: strncmp() over the common length, then the longer run is newer. */
function compareAlpha(a: Cursor, b: Cursor): -1 | 0 | 1 {
  const ea = runEnd(a, isAlpha);
  const eb = runEnd(b, isAlpha);
  const n = Math.min(ea - a.i, eb - b.i);
  let r = compareStrings(a.s.slice(a.i, a.i + n), b.s.slice(b.i, b.i + n));
  if (r === 0) r = cmp(ea - a.i, eb - b.i);
  a.i = ea;
  b.i = eb;
  return r;
}

/** Byte order; the operands are ASCII letters or digits only, so code-unit order is the same. */
function compareStrings(x: string, y: string): -1 | 0 | 1 {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One iteration of the C loop; `undefined` means "segments equal, go on". */
function compareSegment(a: Cursor, b: Cursor): -1 | 0 | 1 | undefined {
  skipInvalid(a);
  skipInvalid(b);
  let r = comparePrefix(a, b, TILDE);
  if (r !== 0) return r;
  // Must come after the `~` check: "" > "~" but "" < "0" (UAPI version format examples).
  if (peek(a) === 0 || peek(b) === 0) return cmp(signedChar(peek(a)), signedChar(peek(b)));
  for (const ch of [MINUS, CARET, DOT]) {
    r = comparePrefix(a, b, ch);
    if (r !== 0) return r;
  }
  r = isDigit(peek(a)) || isDigit(peek(b)) ? compareNumeric(a, b) : compareAlpha(a, b);
  return r === 0 ? undefined : r;
}

/** Orders two versions exactly like `systemd-analyze compare-versions A B` (-1: A older). */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const ca = cursor(a);
  const cb = cursor(b);
  for (;;) {
    const r = compareSegment(ca, cb);
    if (r !== undefined) return r;
  }
}

/** The newest version; of versions comparing equal (e.g. `1.01` and `1.1`) the first wins. */
export function newestVersion(versions: readonly string[]): string | undefined {
  let newest: string | undefined;
  for (const v of versions) {
    if (newest === undefined || compareVersions(v, newest) > 0) newest = v;
  }
  return newest;
}

/** A new array, oldest first; equal versions keep their input order (the sort is stable). */
export function sortVersions(versions: readonly string[]): string[] {
  return [...versions].sort(compareVersions);
}
