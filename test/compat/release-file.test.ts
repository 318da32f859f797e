// parseReleaseFile() reads os-release / extension-release files as systemd's env-file parser
// does (src/basic/env-file.c parse_env_file_internal(), v252 and v257.13). The cases in
// ./release-cases.ts are also run against the host's real systemd in
// release-file.oracle.test.ts.
import { describe, expect, it } from 'vitest';
import { isAgentError } from '../../src/errors.ts';
import { parseReleaseFile } from '../../src/compat/release-file.ts';
import { REFUSED_FILES, RELEASE_CASES } from './release-cases.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('parseReleaseFile: systemd env-file syntax', () => {
  it.each(RELEASE_CASES)('$why', ({ text, fields, old }) => {
    expect(parseReleaseFile(text)).toEqual(fields);
    expect(parseReleaseFile(text, 257)).toEqual(fields);
    expect(parseReleaseFile(text, 252)).toEqual(old ?? fields);
    // Bytes and strings are read alike.
    expect(parseReleaseFile(utf8(text), 252)).toEqual(old ?? fields);
  });

  it('keeps a key such as __proto__ as an own field, not as the prototype', () => {
    const fields = parseReleaseFile('__proto__=x\nID=y\n');
    expect(Object.hasOwn(fields, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.keys(fields)).toEqual(['__proto__', 'ID']);
  });

  it('parses a real os-release (Debian 12)', () => {
    const text = [
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
      'NAME="Debian GNU/Linux"',
      'VERSION_ID="12"',
      'VERSION_CODENAME=bookworm',
      'ID=debian',
      'HOME_URL="https://www.debian.org/"',
      '',
    ].join('\n');
    expect(parseReleaseFile(text)).toEqual({
      PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)',
      NAME: 'Debian GNU/Linux',
      VERSION_ID: '12',
      VERSION_CODENAME: 'bookworm',
      ID: 'debian',
      HOME_URL: 'https://www.debian.org/',
    });
  });
});

describe('parseReleaseFile: a NUL byte (read_full_stream() fails with EBADMSG)', () => {
  it.each(REFUSED_FILES)('refuses %j', (text) => {
    expect(() => parseReleaseFile(text)).toThrow(/a NUL byte; systemd refuses the whole file/);
    expect(() => parseReleaseFile(utf8(text))).toThrow(/a NUL byte/);
  });
});

describe('parseReleaseFile: UTF-8 (check_utf8ness_and_warn fails the whole file)', () => {
  it('reads UTF-8 bytes', () => {
    expect(parseReleaseFile(utf8('NAME="Débian ✓"\n'))).toEqual({ NAME: 'Débian ✓' });
  });

  it('keeps a byte order mark as part of the first key, as systemd does', () => {
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf, ...utf8('ID=debian\n'));
    expect(parseReleaseFile(bom)).toEqual({ '\uFEFFID': 'debian' });
  });

  it('ignores invalid UTF-8 inside a comment (systemd never checks comments)', () => {
    const bytes = Uint8Array.of(...utf8('# caf'), 0xe9, ...utf8('\nID=x\n'));
    expect(parseReleaseFile(bytes)).toEqual({ ID: 'x' });
  });

  it.each([
    ['a Latin-1 byte in a value', Uint8Array.of(...utf8('NAME=caf'), 0xe9, 0x0a), 'NAME'],
    ['an overlong encoding', Uint8Array.of(...utf8('A='), 0xc0, 0xaf), 'A'],
    ['a truncated sequence', Uint8Array.of(...utf8('A=x'), 0xe2, 0x82), 'A'],
    ['a noncharacter U+FFFE (unichar_is_valid)', utf8('A=\uFFFE\n'), 'A'],
    ['a noncharacter U+FDD0 (unichar_is_valid)', utf8('A=\uFDD0\n'), 'A'],
    ['a noncharacter U+1FFFF (unichar_is_valid)', utf8('A=\u{1FFFF}\n'), 'A'],
  ])('refuses %s', (_why, bytes, key) => {
    let caught: unknown;
    try {
      parseReleaseFile(bytes);
    } catch (err) {
      caught = err;
    }
    expect(isAgentError(caught) && caught.code).toBe('BAD_IMAGE');
    expect((caught as Error).message).toContain(`the value of ${key}`);
  });

  it('refuses invalid UTF-8 in a key, naming no value', () => {
    expect(() => parseReleaseFile(Uint8Array.of(0xff, ...utf8('=1\n')))).toThrow(/in a key/);
  });

  it('refuses a lone surrogate in a string (systemd refuses U+D800..U+DFFF)', () => {
    expect(() => parseReleaseFile('A=\uD800\n')).toThrow(/the value of A/);
  });

  it('reads a long value in one piece', () => {
    const long = 'x'.repeat(200_000);
    expect(parseReleaseFile(`A=${long}\n`).A).toHaveLength(200_000);
  });
});
