// Oracle: parseReleaseFile() reads release files as the host's own systemd does. systemd reads
// the file named by $SYSTEMD_OS_RELEASE as its os-release (open_extension_release(), os-util.c)
// with the same env-file parser it uses for extension-release files, and
// `systemd-analyze condition 'ConditionOSRelease=KEY$=PATTERN ...'` tells whether each field
// matches. Every case of ./release-cases.ts and random files are checked. Under CI a missing
// systemd-analyze fails this file (test/helpers/requirements.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseReleaseFile } from '../../src/compat/release-file.ts';
import { missing } from '../helpers/requirements.ts';
import { REFUSED_FILES, RELEASE_CASES } from './release-cases.ts';

const RANDOM_FILES = 400;
const SEED = Number(process.env.RELEASE_ORACLE_SEED ?? 20261126);
/** Keys asked about in every file, present or not, so a field systemd has and we miss shows. */
const PROBE_KEYS = ['A', 'B', 'C', 'ID'];

const dir = mkdtempSync(join(tmpdir(), 'release-oracle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// One bash per batch: reads NUL-separated (file, condition) pairs and prints, for each, the
// exit status, or E when systemd could not read the file ("Couldn't determine result").
const ORACLE_SCRIPT = `while IFS= read -r -d '' f && IFS= read -r -d '' c; do
  out=$(SYSTEMD_OS_RELEASE="$f" systemd-analyze condition "ConditionOSRelease=$c" 2>&1 </dev/null)
  rc=$?
  case "$out" in *"Couldn't determine result"*) echo E ;; *) echo $rc ;; esac
done`;

/** The systemd version systemd-analyze reports, e.g. "252.39" from "systemd 252 (252.39-1~deb12u2)". */
function hostSystemd(): string {
  const out = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).stdout;
  const m = /^systemd (\d+)(?: \(([\d.]+))?/.exec(out);
  return m?.[2] ?? m?.[1] ?? '';
}

/**
 * fnmatch() pattern matching exactly `value`: every character backslash-quoted, but a leading
 * blank goes in brackets (condition_test_osrelease() refuses a value starting with a blank).
 */
function exactPattern(value: string): string {
  return [...value]
    .map((ch, i) => (i === 0 && /[ \t\n\r]/.test(ch) ? `[${ch}]` : `\\${ch}`))
    .join('');
}

/** Quoted for extract_first_word(EXTRACT_UNQUOTE): inside "...", a backslash quotes the next character. */
const quote = (s: string): string => `"${s.replace(/[\\"]/g, (m) => `\\${m}`)}"`;
const isEnvName = (k: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k);

/** One condition that holds iff systemd reads exactly `fields` for every asked key. */
function condition(fields: Record<string, string>): string {
  const keys = new Set([...Object.keys(fields), ...PROBE_KEYS].filter(isEnvName));
  return [...keys]
    .map((k) => {
      const v = Object.hasOwn(fields, k) ? fields[k] : undefined;
      // `K!$=?*`: empty or absent, which systemd does not tell apart (isempty()).
      return v === undefined || v === '' ? `${k}!$=?*` : `${k}$=${quote(exactPattern(v))}`;
    })
    .join(' ');
}

/** What systemd should say of `text`: 0 (every field as we read it) or E (file refused). */
function expectation(
  text: string | Uint8Array,
  version: string,
): { condition: string; answer: string } {
  try {
    return { condition: condition(parseReleaseFile(text, version)), answer: '0' };
  } catch {
    return { condition: 'A!$=?*', answer: 'E' };
  }
}

/** For each text, whether the host's systemd agrees with parseReleaseFile(). */
function oracle(texts: readonly (string | Uint8Array)[]): Promise<boolean[]> {
  const version = hostSystemd();
  const expected = texts.map((text) => expectation(text, version));
  const input = texts.map((text, i) => {
    const file = join(dir, `case-${i}`);
    writeFileSync(file, text);
    return `${file}\0${expected[i]?.condition ?? ''}\0`;
  });
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', ORACLE_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', () => {
      const got = stdout.trim().split('\n');
      resolve(expected.map((e, i) => got[i] === e.answer));
    });
    child.stdin.end(input.join(''));
  });
}

const CHARS = ['A', 'B', 'C', 'x', ' ', '\t', '\n', '\r', '=', '"', "'", '\\', '#', ';', '$', '`'];
const fileArb = fc.string({
  unit: fc.oneof(
    { weight: 400, arbitrary: fc.constantFrom(...CHARS) },
    { weight: 1, arbitrary: fc.constant('\0') },
  ),
  maxLength: 40,
});

describe.skipIf(missing('systemd-analyze'))('parseReleaseFile vs systemd-analyze', () => {
  it('the oracle tells a match from a mismatch', () => {
    expect(hostSystemd()).toMatch(/^\d+/);
    writeFileSync(join(dir, 'probe'), 'A=" x"\n');
    const probe = (c: string): number | null =>
      spawnSync('systemd-analyze', ['condition', `ConditionOSRelease=${c}`], {
        env: { ...process.env, SYSTEMD_OS_RELEASE: join(dir, 'probe') },
      }).status;
    expect(probe(`A$=${quote(exactPattern(' x'))} B!$=?*`)).toBe(0);
    expect(probe(`A$=${quote(exactPattern(' y'))}`)).not.toBe(0);
    expect(probe('A!$=?*')).not.toBe(0);
  });

  it('agrees on every case of ./release-cases.ts', async () => {
    const agree = await oracle(RELEASE_CASES.map((c) => c.text));
    expect(agree).toHaveLength(RELEASE_CASES.length);
    expect(RELEASE_CASES.filter((_, i) => !agree[i]).map((c) => c.why)).toEqual([]);
  });

  it('refuses the files systemd refuses (./release-cases.ts)', async () => {
    expect(await oracle(REFUSED_FILES)).toEqual(REFUSED_FILES.map(() => true));
  });

  it('agrees on UTF-8 edge cases (check_utf8ness_and_warn, unichar_is_valid)', async () => {
    const utf8 = (t: string): number[] => [...new TextEncoder().encode(t)];
    const files = [
      Uint8Array.of(...utf8('A=caf'), 0xe9, 0x0a), // Latin-1 in a value: refused
      Uint8Array.of(...utf8('A=\uFFFE\n')), // noncharacter: refused
      Uint8Array.of(...utf8('A=\uFDD0\n')), // noncharacter: refused
      Uint8Array.of(...utf8('A=x'), 0xc0, 0xaf), // overlong: refused
      Uint8Array.of(...utf8('# caf'), 0xe9, ...utf8('\nA=x\n')), // in a comment: read
      Uint8Array.of(0xef, 0xbb, 0xbf, ...utf8('ID=x\nA=y\n')), // BOM: part of the key, no ID
      Uint8Array.of(...utf8('A="d\u00e9bian \u2713"\n')), // valid UTF-8: read
    ];
    expect(await oracle(files)).toEqual(files.map(() => true));
  });

  it(`agrees on ${RANDOM_FILES} random files (seed ${SEED})`, async () => {
    const texts = fc.sample(fileArb, { seed: SEED, numRuns: RANDOM_FILES });
    const agree = await oracle(texts);
    expect(agree).toHaveLength(RANDOM_FILES);
    expect(texts.filter((_, i) => !agree[i])).toEqual([]);
  });
});
