// Planning (src/lifecycle/plan.ts): newest acceptable version by systemd's version order and the
// action per configured extension.
import { describe, expect, it } from 'vitest';
import { plan, planExtension } from '../../src/plan/plan.ts';
import type { PlanInput } from '../../src/plan/plan.ts';
import type { ImageEntry, ManifestPayload } from '../../src/manifest/schema.ts';
import { imageEntry } from '../helpers/entries.ts';

function entry(name: string, version: string): ImageEntry {
  return imageEntry(`${name}/${name}_${version}.raw`);
}

function manifest(
  exts: Record<string, { kind?: 'sysext' | 'confext'; versions: string[] }>,
): ManifestPayload {
  const extensions: ManifestPayload['extensions'] = {};
  for (const [name, { kind = 'sysext', versions }] of Object.entries(exts)) {
    extensions[name] = {
      kind,
      versions: Object.fromEntries(
        versions.map((v) => [v, { images: [entry(name, v)], rolloutPercent: 100 }]),
      ),
    };
  }
  return {
    schema: 1,
    serial: 1,
    issued: '2026-01-01T00:00:00Z',
    expires: '2027-01-01T00:00:00Z',
    extensions,
  };
}

function input(
  m: ManifestPayload,
  current: Record<string, string> = {},
  quarantined: Record<string, string[]> = {},
  extra: Partial<PlanInput> = {},
): PlanInput {
  return {
    names: Object.keys(m.extensions),
    manifest: m,
    current: (n) => current[n] ?? null,
    quarantined: (n) => quarantined[n] ?? [],
    ...extra,
  };
}

describe('planExtension: newest by systemd version order', () => {
  it.each<[string[], string]>([
    [['1.9', '1.10', '1.2'], '1.10'],
    [['2~rc1', '1.9'], '2~rc1'],
    [['2', '2~rc1', '2~rc2'], '2'],
    [['2~rc2', '2~rc10'], '2~rc10'],
    [['1.0', '1.0^patch1'], '1.0^patch1'],
    [['9', '10', '010', '8'], '10'],
    [['1.0-1', '1.0-2', '1.0'], '1.0-2'],
  ])('%j -> %s', (versions, newest) => {
    const item = planExtension('hello', input(manifest({ hello: { versions } })));
    // '10' and '010' compare equal: the first listed wins.
    expect(item.target).toBe(newest);
    expect(item.action).toBe('install');
    expect(item.entry?.path).toBe(`hello/hello_${item.target}.raw`);
  });
});

describe('planExtension: actions', () => {
  const m = manifest({ hello: { versions: ['1.9', '1.10', '2~rc1'] } });

  it('install when nothing is current, with kind and entry of the target', () => {
    const item = planExtension('hello', input(m));
    expect(item).toMatchObject({
      name: 'hello',
      kind: 'sysext',
      current: null,
      target: '2~rc1',
      action: 'install',
      skippedQuarantined: [],
    });
    expect(item.entry).toEqual(entry('hello', '2~rc1'));
  });

  it('update when the newest is newer than current (1.10 > 1.9, not string order)', () => {
    const item = planExtension(
      'hello',
      input(manifest({ hello: { versions: ['1.9', '1.10'] } }), { hello: '1.9' }),
    );
    expect(item).toMatchObject({ current: '1.9', target: '1.10', action: 'update' });
  });

  it('update from a release candidate to the release (2~rc1 < 2)', () => {
    const item = planExtension(
      'hello',
      input(manifest({ hello: { versions: ['2~rc1', '2'] } }), { hello: '2~rc1' }),
    );
    expect(item).toMatchObject({ target: '2', action: 'update' });
  });

  it('none when current is the newest', () => {
    const item = planExtension('hello', input(m, { hello: '2~rc1' }));
    expect(item).toMatchObject({ current: '2~rc1', target: '2~rc1', action: 'none' });
  });

  it('keep-current (not a downgrade) when current is newer than anything in the manifest', () => {
    const item = planExtension('hello', input(m, { hello: '2' }));
    expect(item).toMatchObject({ current: '2', target: '2~rc1', action: 'keep-current' });
    expect(item.note).toMatch(/current 2 is newer than any version this host is offered/);
    expect(item.note).toMatch(/no longer in the manifest/);
    expect(item.note).toMatch(/not downgraded/);
    expect(item.note).toMatch(/hello@2~rc1/);
  });

  it('keep-current says the current version is quarantined, with reason and date', () => {
    const q = { version: '2', reason: 'health check failed (exit 1)', at: '2026-11-26T12:00:00Z' };
    const two = manifest({ hello: { versions: ['1', '2'] } });
    const item = planExtension('hello', input(two, { hello: '2' }, {}, { quarantined: () => [q] }));
    expect(item).toMatchObject({ target: '1', newest: '2', action: 'keep-current' });
    expect(item.note).toMatch(/2 is quarantined on 2026-11-26T12:00:00Z: health check failed/);
  });

  it('newest is the newest published version, held back or not', () => {
    const item = planExtension('hello', input(m, {}, { hello: ['2~rc1'] }));
    expect(item).toMatchObject({ target: '1.10', newest: '2~rc1', note: null });
  });

  it('missing when the manifest lacks the extension', () => {
    const item = planExtension('absent', input(m, { absent: '1' }));
    expect(item).toEqual({
      name: 'absent',
      kind: null,
      current: '1',
      target: null,
      entry: null,
      action: 'missing',
      newest: null,
      note: null,
      heldBack: [],
      skippedQuarantined: [],
      currentIncompatible: null,
    });
  });

  it('none with no target when the extension has no versions', () => {
    const item = planExtension('hello', input(manifest({ hello: { versions: [] } })));
    expect(item).toMatchObject({ target: null, entry: null, action: 'none' });
  });

  it('kind comes from the manifest', () => {
    const item = planExtension(
      'cfg',
      input(manifest({ cfg: { kind: 'confext', versions: ['1'] } })),
    );
    expect(item.kind).toBe('confext');
  });
});

describe('planExtension: quarantine', () => {
  const m = manifest({ hello: { versions: ['1', '2', '3', '4'] } });

  it('skips quarantined versions and reports those newer than the target', () => {
    const item = planExtension('hello', input(m, { hello: '1' }, { hello: ['4', '3'] }));
    expect(item).toMatchObject({ target: '2', action: 'update' });
    expect([...item.skippedQuarantined].sort()).toEqual(['3', '4']);
  });

  it('a quarantined version older than the target is not reported', () => {
    const item = planExtension('hello', input(m, { hello: '1' }, { hello: ['2', '4'] }));
    expect(item.target).toBe('3');
    expect(item.skippedQuarantined).toEqual(['4']);
  });

  it('quarantine of the newest keeps the current one: none', () => {
    const item = planExtension('hello', input(m, { hello: '3' }, { hello: ['4'] }));
    expect(item).toMatchObject({ target: '3', action: 'none', skippedQuarantined: ['4'] });
  });

  it('everything quarantined: no target, all reported', () => {
    const item = planExtension('hello', input(m, {}, { hello: ['1', '2', '3', '4'] }));
    expect(item).toMatchObject({ target: null, entry: null, action: 'none' });
    expect([...item.skippedQuarantined].sort()).toEqual(['1', '2', '3', '4']);
  });

  it('allowQuarantined takes the newest again and reports nothing skipped', () => {
    const item = planExtension(
      'hello',
      input(m, { hello: '1' }, { hello: ['4', '3'] }, { allowQuarantined: true }),
    );
    expect(item).toMatchObject({ target: '4', action: 'update', skippedQuarantined: [] });
  });

  it('held back with the quarantine reason and date when state gives them', () => {
    const entries = [
      { version: '4', reason: 'health check failed (exit 1)', at: '2026-11-26T12:00:00Z' },
      { version: '3', reason: 'rolled back by the rollback command', at: '2026-11-27T08:00:00Z' },
    ];
    const item = planExtension('hello', {
      ...input(m, { hello: '2' }),
      quarantined: () => entries,
    });
    expect(item).toMatchObject({ target: '2', newest: '4', action: 'none' });
    expect(item.heldBack).toEqual([
      {
        version: '4',
        cause: 'quarantined',
        reason: 'quarantined on 2026-11-26T12:00:00Z: health check failed (exit 1)',
        quarantine: { reason: 'health check failed (exit 1)', at: '2026-11-26T12:00:00Z' },
      },
      {
        version: '3',
        cause: 'quarantined',
        reason: 'quarantined on 2026-11-27T08:00:00Z: rolled back by the rollback command',
        quarantine: { reason: 'rolled back by the rollback command', at: '2026-11-27T08:00:00Z' },
      },
    ]);
    expect(item.skippedQuarantined).toEqual(['4', '3']);
  });

  it('quarantine is per extension', () => {
    const two = manifest({ a: { versions: ['1', '2'] }, b: { versions: ['1', '2'] } });
    const items = plan(input(two, {}, { a: ['2'] }));
    expect(items.map((i) => [i.name, i.target])).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });
});

describe('plan', () => {
  it('plans every configured name in order, including missing ones', () => {
    const m = manifest({ hello: { versions: ['1'] }, other: { versions: ['5'] } });
    const items = plan(input(m, { hello: '1' }, {}, { names: ['site-config', 'hello'] }));
    expect(items.map((i) => [i.name, i.action])).toEqual([
      ['site-config', 'missing'],
      ['hello', 'none'],
    ]);
  });
});
