/**
 * Phased rollouts (PRODUCT.md section 3.1) over a fleet of 200 generated machine ids: the share
 * taking a 25% version is within the binomial expectation, the answer never changes for one
 * machine, raising the percent only adds hosts, and the bucket matches an independent
 * computation with sha256sum and shell arithmetic.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ManifestPayload } from '../../src/manifest/schema.ts';
import { planExtension } from '../../src/plan/plan.ts';
import { rolloutBucket } from '../../src/plan/rollout.ts';
import { imageEntry } from '../helpers/entries.ts';

/** 200 machine ids from a seeded generator (mulberry32), so a failure can be replayed. */
function machineIds(count: number, seed = 20261126): string[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 4 }, () => next().toString(16).padStart(8, '0')).join(''),
  );
}

function manifest(percent: number): ManifestPayload {
  const image = imageEntry('hello/hello_2.0.raw');
  return {
    schema: 2,
    serial: 1,
    issued: '2026-01-01T00:00:00Z',
    expires: '2027-01-01T00:00:00Z',
    extensions: {
      hello: { kind: 'sysext', versions: { '2.0': { images: [image], rolloutPercent: percent } } },
    },
  };
}

const takes = (machineId: string, percent: number): boolean =>
  planExtension('hello', {
    names: ['hello'],
    manifest: manifest(percent),
    current: () => null,
    quarantined: () => [],
    machineId,
  }).target === '2.0';

const fleet = machineIds(200);

describe('rollout over 200 machines', () => {
  it('a 25% version reaches a share within the binomial expectation (mean 50, 4 sd)', () => {
    const n = fleet.filter((id) => takes(id, 25)).length;
    const sd = Math.sqrt(200 * 0.25 * 0.75);
    expect(Math.abs(n - 50)).toBeLessThanOrEqual(4 * sd);
  });

  it('the same machine always gets the same answer', () => {
    for (const id of fleet.slice(0, 20)) {
      const first = takes(id, 25);
      for (let i = 0; i < 5; i++) expect(takes(id, 25)).toBe(first);
    }
  });

  it('raising the percent only adds hosts', () => {
    let before = new Set<string>();
    for (const percent of [0, 5, 10, 25, 50, 75, 99, 100]) {
      const now = new Set(fleet.filter((id) => takes(id, percent)));
      for (const id of before) expect(now.has(id)).toBe(true);
      expect(now.size).toBeGreaterThanOrEqual(before.size);
      before = now;
    }
    expect(before.size).toBe(200);
  });

  it('the bucket matches sha256sum and shell arithmetic', () => {
    // hi*2^32 + lo mod 100 = (hi mod 100 * 96 + lo) mod 100, since 2^32 mod 100 = 96.
    const script =
      'h=$(printf %s "$1:hello:2.0" | sha256sum | cut -c1-16); ' +
      'hi=$((0x$(echo $h | cut -c1-8))); lo=$((0x$(echo $h | cut -c9-16))); ' +
      'echo $(( (hi % 100 * 96 + lo) % 100 ))';
    for (const id of fleet.slice(0, 25)) {
      const shell = execFileSync('/bin/sh', ['-c', script, 'sh', id], { encoding: 'utf8' });
      expect(rolloutBucket(id, 'hello', '2.0')).toBe(Number(shell.trim()));
    }
  });
});
