// Retention (PRODUCT.md section 4, `keep`; section 5, `vacuum`): keep `keep` versions in total,
// never delete current or previous.
import { describe, expect, it } from 'vitest';
import { quarantinedNeverActivated, versionsBeyondKeep } from '../../src/plan/retention.ts';

const sorted = (v: string[]): string[] => [...v].sort();

describe('versionsBeyondKeep', () => {
  it('keep 2 with current and previous deletes every other version', () => {
    const gone = versionsBeyondKeep(['1', '2', '3', '4', '5'], '5', '4', 2);
    expect(sorted(gone)).toEqual(['1', '2', '3']);
  });

  it('keeps the newest others by version order (1.10 > 1.9) when keep has room', () => {
    const gone = versionsBeyondKeep(['1.8', '1.9', '1.10', '1.11', '2'], '2', '1.11', 3);
    expect(sorted(gone)).toEqual(['1.8', '1.9']);
  });

  it('release candidates are older than the release', () => {
    const gone = versionsBeyondKeep(['2~rc1', '2', '2~rc2', '3'], '3', null, 2);
    expect(sorted(gone)).toEqual(['2~rc1', '2~rc2']);
  });

  it('never deletes current or previous, even when they are the oldest', () => {
    const stored = ['1', '2', '3', '4'];
    const gone = versionsBeyondKeep(stored, '1', '2', 2);
    expect(sorted(gone)).toEqual(['3', '4']);
    expect(gone).not.toContain('1');
    expect(gone).not.toContain('2');
  });

  it('keeps `keep` versions in total (current and previous included)', () => {
    const stored = ['1', '2', '3', '4', '5', '6'];
    for (const keep of [2, 3, 4, 5, 6, 7]) {
      const gone = versionsBeyondKeep(stored, '6', '5', keep);
      expect(stored.length - gone.length).toBe(Math.min(keep, stored.length));
      expect(gone).not.toContain('6');
      expect(gone).not.toContain('5');
    }
  });

  it('with no previous, current plus keep-1 newest others stay', () => {
    const gone = versionsBeyondKeep(['1', '2', '3', '4'], '4', null, 3);
    expect(gone).toEqual(['1']);
  });

  it('with nothing current, the newest `keep` stay', () => {
    const gone = versionsBeyondKeep(['3', '1', '2'], null, null, 2);
    expect(gone).toEqual(['1']);
  });

  it('current equal to previous counts once', () => {
    const gone = versionsBeyondKeep(['1', '2', '3'], '3', '3', 2);
    expect(gone).toEqual(['1']);
  });

  it('nothing to delete when within keep', () => {
    expect(versionsBeyondKeep(['1', '2'], '2', '1', 2)).toEqual([]);
    expect(versionsBeyondKeep([], null, null, 2)).toEqual([]);
  });

  it('does not modify its input', () => {
    const stored = ['3', '1', '2'];
    versionsBeyondKeep(stored, '3', null, 2);
    expect(stored).toEqual(['3', '1', '2']);
  });
});

describe('quarantinedNeverActivated (vacuum)', () => {
  const entry = (version: string, activated?: boolean) => ({
    version,
    ...(activated === undefined ? {} : { activated }),
  });

  it('stored, quarantined, never current: deleted whatever keep says', () => {
    const q = [entry('4', false), entry('3', true), entry('2')];
    expect(quarantinedNeverActivated(['1', '2', '3', '4'], '1', null, q)).toEqual(['4']);
  });

  it('never current or previous, and only what is stored', () => {
    const q = [entry('1', false), entry('2', false), entry('5', false), entry('3', false)];
    expect(quarantinedNeverActivated(['1', '2', '3', '4'], '1', '2', q)).toEqual(['3']);
  });

  it('nothing quarantined: nothing', () => {
    expect(quarantinedNeverActivated(['1', '2'], '2', '1', [])).toEqual([]);
  });
});
