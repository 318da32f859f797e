/** "Did you mean": the closest known name within a typo's distance. */
import { describe, expect, it } from 'vitest';
import { closestName, didYouMean, editDistance } from '../../src/util/suggest.ts';

describe('suggestions', () => {
  it('counts insertions, deletions, substitutions and transpositions as one edit each', () => {
    expect(editDistance('extensions', 'extensions')).toBe(0);
    expect(editDistance('extentions', 'extensions')).toBe(1);
    expect(editDistance('extnesions', 'extensions')).toBe(1);
    expect(editDistance('kep', 'keep')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests a close name, case-insensitively, and nothing for another word', () => {
    const known = ['repositories', 'extensions', 'keep', 'threshold'];
    expect(closestName('extentions', known)).toBe('extensions');
    expect(closestName('Keep', known)).toBe('keep');
    expect(closestName('colour', known)).toBeUndefined();
    expect(didYouMean('treshold', known)).toBe(' (did you mean "threshold"?)');
    expect(didYouMean('zzz', known)).toBe('');
  });
});
