// Name, version and image file name syntax, PRODUCT.md §3.
import { describe, expect, it } from 'vitest';
import {
  MAX_LENGTH,
  isValidName,
  isValidVersion,
  parseImageFileName,
} from '../../src/version/syntax.ts';

describe('isValidName', () => {
  it.each(['hello', 'a', '0', 'Hello-World', 'foo.bar', 'c++', 'x-1.2+3', 'a'.repeat(MAX_LENGTH)])(
    'accepts %j',
    (name) => expect(isValidName(name)).toBe(true),
  );

  it.each([
    '',
    'hello_world', // `_` separates name and version in file names
    '-hello',
    '.hidden',
    '+x',
    'a b',
    'a/b',
    'a~b',
    'a^b',
    'héllo',
    'hello\n',
    'a'.repeat(MAX_LENGTH + 1),
  ])('rejects %j', (name) => expect(isValidName(name)).toBe(false));
});

describe('isValidVersion', () => {
  it.each([
    '1',
    '2.1',
    'v1',
    '1_0',
    '1~rc1',
    '1^post',
    '252.12-1~deb12u1',
    '1+git.abc',
    'A',
    '1'.repeat(MAX_LENGTH),
  ])('accepts %j', (version) => expect(isValidVersion(version)).toBe(true));

  it.each([
    '',
    '~1', // must start with a letter or digit
    '_1',
    '.1',
    '-1',
    '^1',
    '+1',
    '1 2',
    '1/2',
    '1:2',
    '1é',
    '1\n',
    '1'.repeat(MAX_LENGTH + 1),
  ])('rejects %j', (version) => expect(isValidVersion(version)).toBe(false));
});

describe('parseImageFileName', () => {
  it.each([
    ['hello_2.1.raw', 'hello', '2.1'],
    ['hello_1_0.raw', 'hello', '1_0'], // only the first `_` separates
    ['my-ext.v2_1~rc1.raw', 'my-ext.v2', '1~rc1'],
    ['c++_1^post.raw', 'c++', '1^post'],
    ['x_1.raw.raw', 'x', '1.raw'],
  ])('parses %j', (fileName, name, version) => {
    expect(parseImageFileName(fileName)).toEqual({ name, version });
  });

  it.each([
    'hello.raw', // no version
    'hello_.raw',
    '_1.raw',
    'hello_1',
    'hello_1.img',
    'hello_1.RAW',
    'hello_1.raw.gz',
    'hello__1.raw', // the version would start with `_`
    'hello_~1.raw',
    'dir/hello_1.raw',
    'hello_1/x.raw',
    '.raw',
    `${'a'.repeat(MAX_LENGTH + 1)}_1.raw`,
    `a_${'1'.repeat(MAX_LENGTH + 1)}.raw`,
  ])('rejects %j', (fileName) => expect(parseImageFileName(fileName)).toBeUndefined());

  it('accepts both parts at the maximum length', () => {
    const name = 'n'.repeat(MAX_LENGTH);
    const version = '9'.repeat(MAX_LENGTH);
    expect(parseImageFileName(`${name}_${version}.raw`)).toEqual({ name, version });
  });
});
