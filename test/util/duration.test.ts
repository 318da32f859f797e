// Durations of PRODUCT.md section 5: a number with a unit, `90s`, `15m`, `12h`, `30d`.
import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/errors.ts';
import { parseDuration } from '../../src/util/duration.ts';
import { codeOf } from '../helpers/errors.ts';

describe('parseDuration', () => {
  it.each<[string, number]>([
    ['90s', 90_000],
    ['15m', 15 * 60_000],
    ['12h', 12 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['1s', 1000],
    ['007m', 7 * 60_000],
    [' 2h\n', 2 * 3_600_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    '90',
    's',
    '0s',
    '00d',
    '-5m',
    '+5m',
    '1.5h',
    '1e3s',
    '10w',
    '10ms',
    '10S',
    '10 s',
    '5m30s',
    '30days',
    '1234567890s',
  ])('%j gives USAGE', (text) => {
    expect(codeOf(() => parseDuration(text))).toBe('USAGE');
  });

  it('USAGE is exit code 2', () => {
    expect(exitCodeFor('USAGE')).toBe(2);
  });
});
