/**
 * The last guard between a name and the file system (issue 11, class 1): `inside` refuses any
 * path that is not strictly below its directory, and src/store/layout.ts, which builds every
 * file name of the agent, refuses names and versions that break the rules before it joins them.
 */
import { describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { inside } from '../../src/store/contained.ts';
import {
  activationEntries,
  activationNameOf,
  imageFileName,
  partialPath,
  storeDir,
  storedImage,
} from '../../src/store/layout.ts';
import { codeOf } from '../helpers/errors.ts';

const paths = hostPaths('/r');

describe('inside', () => {
  it('gives the resolved path strictly below the directory', () => {
    expect(inside('/a/b', 'c')).toBe('/a/b/c');
    expect(inside('/a/b/', 'c', 'd.raw')).toBe('/a/b/c/d.raw');
    expect(inside('/', 'etc')).toBe('/etc');
    expect(inside('/a/b', 'c/../d')).toBe('/a/b/d');
  });

  it.each([
    ['empty: the directory itself', ['']],
    ['.', ['.']],
    ['..', ['..']],
    ['up and out', ['../../etc']],
    ['up, out and back in by name', ['../b2']],
    ['absolute', ['/etc/passwd']],
    ['down then further up', ['c/../../x']],
    ['NUL byte', ['c\0d']],
    ['nothing', []],
  ])('refuses %s: UNSAFE_PATH', (_what, parts) => {
    expect(codeOf(() => inside('/a/b', ...parts))).toBe('UNSAFE_PATH');
  });

  it('a sibling with the same prefix is outside (/a/b vs /a/bc)', () => {
    expect(codeOf(() => inside('/a/b', '../bc/x'))).toBe('UNSAFE_PATH');
  });
});

describe('layout refuses names and versions that break the rules', () => {
  const names = [
    '',
    '.',
    '..',
    '../x',
    '../../../../etc',
    'a/b',
    '/abs',
    'a_b',
    '-a',
    'x'.repeat(129),
  ];
  const versions = ['', '..', '../../x', 'a/b', '/abs', '-1', '~1', '1\0'];

  it.each(names)('name %j: UNSAFE_PATH from every builder', (name) => {
    expect(codeOf(() => storeDir(paths, name))).toBe('UNSAFE_PATH');
    expect(codeOf(() => storedImage(paths, name, '1.0'))).toBe('UNSAFE_PATH');
    expect(codeOf(() => imageFileName(name, '1.0'))).toBe('UNSAFE_PATH');
    expect(codeOf(() => partialPath(paths, name, '1.0'))).toBe('UNSAFE_PATH');
    expect(codeOf(() => activationEntries(paths, 'sysext', name))).toBe('UNSAFE_PATH');
  });

  it.each(versions)('version %j: UNSAFE_PATH from every builder', (version) => {
    expect(codeOf(() => storedImage(paths, 'hello', version))).toBe('UNSAFE_PATH');
    expect(codeOf(() => imageFileName('hello', version))).toBe('UNSAFE_PATH');
    expect(codeOf(() => partialPath(paths, 'hello', version))).toBe('UNSAFE_PATH');
  });

  it('valid names, Object members included, give paths in their directories', () => {
    for (const name of ['hello', 'constructor', 'toString', 'a.b+c-1']) {
      expect(storeDir(paths, name)).toBe(`${paths.imagesDir}/${name}`);
      expect(storedImage(paths, name, 'valueOf').image).toBe(
        `${paths.imagesDir}/${name}/${name}_valueOf.raw`,
      );
      expect(activationEntries(paths, 'confext', name).verity).toBe(
        `${paths.confextDir}/${name}.verity`,
      );
    }
  });

  it('a directory listing is input too: entries whose names break the rules are not names', () => {
    expect(activationNameOf('hello.raw')).toBe('hello');
    expect(activationNameOf('constructor.raw')).toBe('constructor');
    for (const f of ['.raw', 'a_b.raw', '-x.raw', '.hello.raw', `${'x'.repeat(129)}.raw`, 'hello'])
      expect(activationNameOf(f), f).toBeNull();
  });
});
