// Release files and what systemd reads from them: parse_env_file_internal() in
// src/basic/env-file.c (v252 and v257.13) with the last-assignment-wins push of
// load_env_file_push_pairs(). release-file.test.ts checks parseReleaseFile() against these;
// release-file.oracle.test.ts checks these against the host's own systemd.

/** Files systemd refuses whole: a NUL byte makes read_full_stream() fail with EBADMSG. */
export const REFUSED_FILES: readonly string[] = ['A=b\0\nC=d\n', '\0', 'ID=x\n#\0\n'];

export interface ReleaseCase {
  readonly why: string;
  readonly text: string;
  /** What systemd reads; `old` when v252/v253 read it otherwise (COMMENT_ESCAPE, v254). */
  readonly fields: Record<string, string>;
  readonly old?: Record<string, string>;
}

export const RELEASE_CASES: readonly ReleaseCase[] = [
  { why: 'plain assignment', text: 'ID=fedora\n', fields: { ID: 'fedora' } },
  { why: 'double quotes', text: 'ID="fedora"\n', fields: { ID: 'fedora' } },
  { why: 'single quotes', text: "ID='fedora'\n", fields: { ID: 'fedora' } },
  { why: 'no final newline', text: 'ID=fedora', fields: { ID: 'fedora' } },
  {
    why: 'blank lines, indentation, # and ; comments',
    text: '\n   \n# c=1\n  ; d=2\n\tID=x\n',
    fields: { ID: 'x' },
  },
  { why: '# inside a value is not a comment', text: 'A=b # c\n', fields: { A: 'b # c' } },
  { why: 'spaces around =', text: 'A  =   b\n', fields: { A: 'b' } },
  { why: 'trailing blanks of an unquoted value go', text: 'A=b c \t \n', fields: { A: 'b c' } },
  { why: 'trailing blanks inside quotes stay', text: 'A="b  "\n', fields: { A: 'b  ' } },
  { why: 'quoted and unquoted parts join', text: 'A="x"y\n', fields: { A: 'xy' } },
  { why: 'blanks between quoted parts vanish', text: 'A="x"  \'y\'\n', fields: { A: 'xy' } },
  { why: 'text after a closing quote, # too', text: 'A="x"  # c\n', fields: { A: 'x# c' } },
  {
    why: 'double quotes: \\ escapes " \\ ` $',
    text: 'A="q\\"b\\\\s\\`t\\$d"\n',
    fields: { A: 'q"b\\s`t$d' },
  },
  {
    why: 'double quotes: other escapes keep the \\',
    text: 'A="a\\nb\\x"\n',
    fields: { A: 'a\\nb\\x' },
  },
  { why: 'double quotes: escaped newline is eaten', text: 'A="a\\\nb"\n', fields: { A: 'ab' } },
  { why: 'single quotes take backslashes as is', text: "A='a\\b\\'\n", fields: { A: 'a\\b\\' } },
  {
    why: 'unquoted: \\ takes the next character',
    text: 'A=a\\ b\\\\c\\"\n',
    fields: { A: 'a b\\c"' },
  },
  { why: 'unquoted: escaped newline continues', text: 'A=a\\\nb\n', fields: { A: 'ab' } },
  { why: 'unquoted: escaped trailing blank stays', text: 'A=b\\ \n', fields: { A: 'b ' } },
  { why: 'a line without = is ignored', text: 'garbage line\nID=x\n', fields: { ID: 'x' } },
  { why: 'a line starting with = is ignored', text: '=x\nID=y\n', fields: { ID: 'y' } },
  { why: 'empty values', text: 'A=\nB=""\nC=\'\'\n', fields: { A: '', B: '', C: '' } },
  { why: 'the last assignment wins', text: 'A=1\nB=1\nA=2\nB=\n', fields: { A: '2', B: '' } },
  {
    why: 'an unterminated quote runs to the end',
    text: 'A="abc\nB=1\n',
    fields: { A: 'abc\nB=1\n' },
  },
  { why: 'CR and CRLF end lines', text: 'A=b\r\nB=c\rC=d\n', fields: { A: 'b', B: 'c', C: 'd' } },
  { why: 'a key may contain blanks', text: 'A B = c\n', fields: { 'A B': 'c' } },
  {
    why: 'a key such as __proto__ is a field',
    text: '__proto__=x\n',
    fields: { ['__proto__']: 'x' },
  },
  {
    why: 'a comment ending in \\ ends at the newline from v254, took the next line before',
    text: '# note \\\nB=1\nC=2\n',
    fields: { B: '1', C: '2' },
    old: { C: '2' },
  },
  {
    why: 'a comment ending in \\ and CRLF',
    text: '# note \\\r\nB=1\n',
    fields: { B: '1' },
    old: { B: '1' },
  },
];
