// os-release(5) / extension-release files, read exactly as systemd reads them: a port of the
// state machine parse_env_file_internal() in src/basic/env-file.c (identical in v252 and
// v257.13 apart from the COMMENT_ESCAPE state, see systemd-version.ts), with the "pairs" push
// of load_env_file_push_pairs() (the last assignment of a key wins, `KEY=` gives "") and the
// UTF-8 check check_utf8ness_and_warn(), which fails the whole file.
//
// Quirks kept because systemd has them: no shell expansion; a quoted part and unquoted text
// next to it join (`A="x"y` is `xy`); inside double quotes a backslash escapes only " \ ` $
// and an escaped newline, before anything else it stays; single quotes take everything up to
// the next quote; `#` and `;` start a comment only at the start of a line, so `A=b # c` is
// `b # c`; unquoted values lose trailing whitespace; a line without `=` is ignored; an
// unterminated quote runs to the end of the file. A file with a NUL byte is refused whole:
// read_full_stream() (src/basic/fileio.c) fails with EBADMSG when the caller, as env-file.c
// does, asks for no size. (It also refuses files of about 64 MiB and more: not modelled.)
import {
  commentEndsAtEscapedNewline,
  parseSystemdVersion,
  type SystemdVersion,
} from './systemd-version.ts';
import { fromBytes, fromUnits, refusedFile } from './utf8.ts';

type State =
  | 'PRE_KEY'
  | 'KEY'
  | 'PRE_VALUE'
  | 'VALUE'
  | 'VALUE_ESCAPE'
  | 'SINGLE_QUOTE_VALUE'
  | 'DOUBLE_QUOTE_VALUE'
  | 'DOUBLE_QUOTE_VALUE_ESCAPE'
  | 'COMMENT'
  | 'COMMENT_ESCAPE';

/** The states in which the end of the file still pushes the pending assignment. */
const PUSH_AT_END: ReadonlySet<State> = new Set([
  'PRE_VALUE',
  'VALUE',
  'VALUE_ESCAPE',
  'SINGLE_QUOTE_VALUE',
  'DOUBLE_QUOTE_VALUE',
  'DOUBLE_QUOTE_VALUE_ESCAPE',
]);

// src/basic/string-util.h and src/basic/escape.h (same in v252 and v257.13).
const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isNewline = (c: number): boolean => c === 0x0a || c === 0x0d;
const isComment = (c: number): boolean => c === 0x23 || c === 0x3b; // # ;
const SHELL_NEED_ESCAPE = new Set([0x22, 0x5c, 0x60, 0x24]); // " \ ` $
const BACKSLASH = 0x5c;

interface Parser {
  state: State;
  key: number[];
  /** null is C's NULL: no character was appended yet (pushed as ""). */
  value: number[] | null;
  /** Where trailing whitespace starts (C's SIZE_MAX is undefined). */
  keyWs: number | undefined;
  valueWs: number | undefined;
  readonly out: Map<string, string>;
  readonly decode: (units: readonly number[], key?: string) => string;
  readonly newlineEndsComment: boolean;
}

/**
 * Parses an os-release or extension-release file. Bytes are read as systemd reads them; a
 * string is taken as already decoded (pass the bytes: a decoder would drop a byte order mark,
 * which systemd keeps as part of the first key). Where systemd refuses the whole file -- a NUL
 * byte, a key or value that is not valid UTF-8 -- this throws BAD_IMAGE. `systemdVersion`
 * picks the env-file rules of that release (default, and for a version it cannot read: v254
 * and later; they differ only for a comment line ending in a backslash).
 */
export function parseReleaseFile(
  content: string | Uint8Array,
  systemdVersion: SystemdVersion = 257,
): Record<string, string> {
  const version = parseSystemdVersion(systemdVersion);
  const p: Parser = {
    state: 'PRE_KEY',
    key: [],
    value: null,
    keyWs: undefined,
    valueWs: undefined,
    out: new Map(),
    decode: typeof content === 'string' ? fromUnits : fromBytes,
    newlineEndsComment: version === undefined || commentEndsAtEscapedNewline(version),
  };
  const hasNul = typeof content === 'string' ? content.includes('\0') : content.includes(0);
  if (hasNul) throw refusedFile('a NUL byte');
  for (let i = 0; i < content.length; i++) {
    step(p, typeof content === 'string' ? content.charCodeAt(i) : (content[i] ?? 0));
  }
  if (PUSH_AT_END.has(p.state)) {
    if (p.state === 'VALUE') chompValue(p);
    push(p);
  }
  // fromEntries defines own properties, so a key such as `__proto__` stays an ordinary field.
  return Object.fromEntries(p.out);
}

function step(p: Parser, c: number): void {
  switch (p.state) {
    case 'PRE_KEY':
      return preKey(p, c);
    case 'KEY':
      return key(p, c);
    case 'PRE_VALUE':
      return preValue(p, c);
    case 'VALUE':
      return value(p, c);
    case 'VALUE_ESCAPE':
      p.state = 'VALUE';
      if (!isNewline(c)) append(p, c); // escaped newlines are eaten up entirely
      return;
    case 'SINGLE_QUOTE_VALUE':
      if (c === 0x27) p.state = 'PRE_VALUE';
      else append(p, c);
      return;
    case 'DOUBLE_QUOTE_VALUE':
      if (c === 0x22) p.state = 'PRE_VALUE';
      else if (c === BACKSLASH) p.state = 'DOUBLE_QUOTE_VALUE_ESCAPE';
      else append(p, c);
      return;
    case 'DOUBLE_QUOTE_VALUE_ESCAPE':
      return doubleQuoteEscape(p, c);
    case 'COMMENT':
      if (c === BACKSLASH) p.state = 'COMMENT_ESCAPE';
      else if (isNewline(c)) p.state = 'PRE_KEY';
      return;
    case 'COMMENT_ESCAPE':
      p.state = p.newlineEndsComment && isNewline(c) ? 'PRE_KEY' : 'COMMENT';
      return;
  }
}

function preKey(p: Parser, c: number): void {
  if (isComment(c)) p.state = 'COMMENT';
  else if (!isWhitespace(c)) {
    p.state = 'KEY';
    p.keyWs = undefined;
    p.key.push(c);
  }
}

function key(p: Parser, c: number): void {
  if (isNewline(c)) {
    p.state = 'PRE_KEY'; // a line without `=`: dropped
    p.key = [];
  } else if (c === 0x3d) {
    p.state = 'PRE_VALUE';
    p.valueWs = undefined;
  } else {
    if (!isWhitespace(c)) p.keyWs = undefined;
    else p.keyWs ??= p.key.length;
    p.key.push(c);
  }
}

function preValue(p: Parser, c: number): void {
  if (isNewline(c)) {
    push(p);
    p.state = 'PRE_KEY';
  } else if (c === 0x27) p.state = 'SINGLE_QUOTE_VALUE';
  else if (c === 0x22) p.state = 'DOUBLE_QUOTE_VALUE';
  else if (c === BACKSLASH) p.state = 'VALUE_ESCAPE';
  else if (!isWhitespace(c)) {
    p.state = 'VALUE';
    append(p, c);
  }
}

function value(p: Parser, c: number): void {
  if (isNewline(c)) {
    chompValue(p);
    push(p);
    p.state = 'PRE_KEY';
  } else if (c === BACKSLASH) {
    p.state = 'VALUE_ESCAPE';
    p.valueWs = undefined;
  } else {
    if (!isWhitespace(c)) p.valueWs = undefined;
    else p.valueWs ??= p.value?.length ?? 0;
    append(p, c);
  }
}

function doubleQuoteEscape(p: Parser, c: number): void {
  p.state = 'DOUBLE_QUOTE_VALUE';
  if (SHELL_NEED_ESCAPE.has(c)) append(p, c);
  else if (c !== 0x0a) {
    // Only "\n" is a continuation line here; before anything else the backslash stays, like
    // the shell keeps it.
    append(p, BACKSLASH);
    append(p, c);
  }
}

function append(p: Parser, c: number): void {
  (p.value ??= []).push(c);
}

function chompValue(p: Parser): void {
  if (p.valueWs !== undefined && p.value !== null) p.value.length = p.valueWs;
}

function push(p: Parser): void {
  if (p.keyWs !== undefined) p.key.length = p.keyWs;
  const k = p.decode(p.key);
  p.out.delete(k); // the last assignment wins
  p.out.set(k, p.value === null ? '' : p.decode(p.value, k));
  p.key = [];
  p.value = null;
}
