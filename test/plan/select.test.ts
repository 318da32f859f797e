/**
 * Which image a host gets (PRODUCT.md section 3.1): the newest version with an image systemd
 * would merge here, inside its rollout, not quarantined; pins and NAME@VERSION; what was held
 * back and why; the move to the newest compatible version after the OS itself changed.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { HostRelease } from '../../src/compat/compatible.ts';
import type { ImageEntry, ManifestPayload, VersionEntry } from '../../src/manifest/schema.ts';
import { planExtension, type PlanInput } from '../../src/plan/plan.ts';
import { parseMachineId, rolloutBucket } from '../../src/plan/rollout.ts';
import { imageEntry } from '../helpers/entries.ts';

const debian12: HostRelease = {
  osRelease: { ID: 'debian', VERSION_ID: '12' },
  architecture: 'x86-64',
  systemdVersion: 252,
};
const debian13: HostRelease = { ...debian12, osRelease: { ID: 'debian', VERSION_ID: '13' } };

function image(version: string, release: Record<string, string>): ImageEntry {
  return imageEntry(`hello/${Object.values(release).join('-')}/hello_${version}.raw`, release);
}

function manifest(versions: Record<string, VersionEntry>): ManifestPayload {
  return {
    schema: 2,
    serial: 1,
    issued: '2026-01-01T00:00:00Z',
    expires: '2027-01-01T00:00:00Z',
    extensions: { hello: { kind: 'sysext', versions } },
  };
}

const v = (images: ImageEntry[], rolloutPercent = 100): VersionEntry => ({
  images,
  rolloutPercent,
});

/** The acceptance repository: builds for fedora, another VERSION_ID, arm64, and _any. */
const mixed = manifest({
  '1.0': v([image('1.0', { ID: '_any' })]),
  '2.0': v([image('2.0', { ID: 'debian', VERSION_ID: '12' })]),
  '3.0': v([image('3.0', { ID: 'debian', VERSION_ID: '13' })]),
  '4.0': v([image('4.0', { ID: '_any', ARCHITECTURE: 'arm64' })]),
  '5.0': v([image('5.0', { ID: 'fedora', VERSION_ID: '41' })]),
});

function input(m: ManifestPayload, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    names: ['hello'],
    manifest: m,
    current: () => null,
    quarantined: () => [],
    host: debian12,
    machineId: 'a'.repeat(32),
    ...extra,
  };
}

describe('compatibility', () => {
  it('installs the newest compatible version and holds the others back with reasons', () => {
    const item = planExtension('hello', input(mixed));
    expect(item).toMatchObject({ target: '2.0', action: 'install' });
    expect(item.entry?.release).toEqual({ ID: 'debian', VERSION_ID: '12' });
    expect(item.heldBack.map((h) => h.version)).toEqual(['5.0', '4.0', '3.0']);
    expect(item.heldBack[0]?.reason).toMatch(/fedora/);
    expect(item.heldBack[1]?.reason).toMatch(/arm64/);
    expect(item.heldBack[2]?.reason).toMatch(/13/);
    expect(item.heldBack.every((h) => h.cause === 'incompatible')).toBe(true);
    expect(item.newest).toBe('5.0');
  });

  it('picks, of one version, the image built for this host', () => {
    const both = manifest({
      '2.1': v([
        image('2.1', { ID: '_any', ARCHITECTURE: 'arm64' }),
        image('2.1', { ID: '_any', ARCHITECTURE: 'x86-64' }),
      ]),
    });
    const item = planExtension('hello', input(both));
    expect(item.entry?.release?.ARCHITECTURE).toBe('x86-64');
    const arm = planExtension(
      'hello',
      input(both, { host: { ...debian12, architecture: 'arm64' } }),
    );
    expect(arm.entry?.release?.ARCHITECTURE).toBe('arm64');
  });

  it('after the OS changed, moves to the newest version compatible with it', () => {
    const item = planExtension('hello', input(mixed, { current: () => '2.0', host: debian13 }));
    expect(item).toMatchObject({ target: '3.0', action: 'update' });
    expect(item.currentIncompatible).toMatch(/12/);
  });

  it('moves down when only an older version fits the new OS', () => {
    const m = manifest({
      '1.0': v([image('1.0', { ID: '_any' })]),
      '2.0': v([image('2.0', { ID: 'debian', VERSION_ID: '12' })]),
    });
    const item = planExtension('hello', input(m, { current: () => '2.0', host: debian13 }));
    expect(item).toMatchObject({ current: '2.0', target: '1.0', action: 'update' });
  });

  it('nothing compatible: no target, everything held back', () => {
    const m = manifest({ '5.0': v([image('5.0', { ID: 'fedora', VERSION_ID: '41' })]) });
    const item = planExtension('hello', input(m));
    expect(item).toMatchObject({ target: null, action: 'none' });
    expect(item.heldBack).toHaveLength(1);
  });
});

describe('rollout', () => {
  it('the bucket is SHA-256 of MACHINE_ID:NAME:VERSION, first 8 bytes big-endian, mod 100', () => {
    const id = '0123456789abcdef0123456789abcdef';
    const digest = createHash('sha256').update(`${id}:hello:2.0`).digest('hex');
    expect(rolloutBucket(id, 'hello', '2.0')).toBe(
      Number(BigInt(`0x${digest.slice(0, 16)}`) % 100n),
    );
  });

  it('a host takes a version only when its bucket is below the percent', () => {
    const id = 'b'.repeat(32);
    const bucket = rolloutBucket(id, 'hello', '2.0');
    const at = (percent: number) =>
      planExtension(
        'hello',
        input(manifest({ '2.0': v([image('2.0', { ID: '_any' })], percent) }), { machineId: id }),
      );
    expect(at(bucket).target).toBeNull();
    expect(at(bucket).heldBack[0]?.reason).toBe(
      `held back by rollout (bucket ${bucket}, rollout ${bucket}%)`,
    );
    expect(at(bucket).heldBack[0]?.cause).toBe('rollout');
    expect(at(bucket + 1).target).toBe('2.0');
    expect(at(100).target).toBe('2.0');
    expect(at(0).target).toBeNull();
  });

  it('a host already on the version keeps it; without a machine id a partial rollout waits', () => {
    const m = manifest({ '2.0': v([image('2.0', { ID: '_any' })], 0) });
    expect(planExtension('hello', input(m, { current: () => '2.0' }))).toMatchObject({
      target: '2.0',
      action: 'none',
    });
    expect(planExtension('hello', input(m, { machineId: null })).heldBack[0]?.reason).toMatch(
      /machine id/,
    );
  });

  it('parseMachineId takes 32 lower-case hex characters only', () => {
    expect(parseMachineId(`${'c'.repeat(32)}\n`)).toBe('c'.repeat(32));
    expect(parseMachineId('uninitialized\n')).toBeNull();
    expect(parseMachineId('C'.repeat(32))).toBeNull();
  });
});

describe('pins and explicit versions', () => {
  const m = manifest({
    '1.0': v([image('1.0', { ID: '_any' })]),
    '2.0': v([image('2.0', { ID: '_any' })], 0),
    '3.0': v([image('3.0', { ID: '_any' })]),
  });

  it('a pin installs exactly that version, also below the current one', () => {
    expect(planExtension('hello', input(m, { pin: () => '1.0' }))).toMatchObject({
      target: '1.0',
      action: 'install',
    });
    const down = planExtension('hello', input(m, { pin: () => '1.0', current: () => '3.0' }));
    expect(down).toMatchObject({ target: '1.0', action: 'update' });
    expect(down.heldBack).toEqual([
      { version: '3.0', cause: 'pinned', reason: 'pinned to 1.0' },
      { version: '2.0', cause: 'pinned', reason: 'pinned to 1.0' },
    ]);
  });

  it('a pin on a version that is not there: nothing to do, the others held back as pinned', () => {
    const item = planExtension('hello', input(m, { pin: () => '9.0' }));
    expect(item.target).toBeNull();
    expect(item.heldBack.every((h) => h.reason === 'pinned to 9.0')).toBe(true);
  });

  it('NAME@VERSION ignores rollout and quarantine, and may go down', () => {
    const item = planExtension(
      'hello',
      input(m, { explicit: () => '2.0', current: () => '3.0', quarantined: () => ['2.0'] }),
    );
    expect(item).toMatchObject({ target: '2.0', action: 'update' });
  });

  it('NAME@VERSION never ignores compatibility', () => {
    const item = planExtension('hello', input(mixed, { explicit: () => '5.0' }));
    expect(item.target).toBeNull();
    expect(item.heldBack.find((h) => h.version === '5.0')?.reason).toMatch(/fedora/);
  });
});
