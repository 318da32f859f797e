/**
 * The pure decisions of `rescue`: what counts as the agent's entry, which versions may stand in
 * for a broken one, the collision-free names of moved entries, and the operator's sentence.
 */
import { describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { describeRescued } from '../../src/rescue/describe.ts';
import { managedVersion, rescuedStem, standIns, type FoundEntry } from '../../src/rescue/plan.ts';
import type { ExtensionState } from '../../src/store/state.ts';

const paths = hostPaths('/r');
const entry = (over: Partial<FoundEntry>): FoundEntry => ({
  kind: 'sysext',
  dir: '/r/var/lib/extensions',
  file: 'hello.raw',
  name: 'hello',
  type: 'symlink',
  link: '../sysext-agent/images/hello/hello_2.0.raw',
  sidecars: [],
  ...over,
});
const ext = (over: Partial<ExtensionState>): ExtensionState => ({
  kind: 'sysext',
  current: '2.0',
  previous: '1.0',
  quarantined: [],
  interrupted: {},
  lastResult: null,
  ...over,
});

describe('managedVersion', () => {
  it("a symlink into the store at NAME_VERSION.raw is the agent's", () => {
    expect(managedVersion(paths, entry({}))).toBe('2.0');
  });
  it('a regular file, a directory, a link elsewhere or to another name is not', () => {
    expect(managedVersion(paths, entry({ type: 'file', link: undefined }))).toBeNull();
    expect(
      managedVersion(paths, entry({ type: 'directory', file: 'hello', link: undefined })),
    ).toBeNull();
    expect(managedVersion(paths, entry({ link: '/srv/hello_2.0.raw' }))).toBeNull();
    expect(
      managedVersion(paths, entry({ link: '../sysext-agent/images/world/hello_2.0.raw' })),
    ).toBeNull();
    expect(
      managedVersion(paths, entry({ link: '../sysext-agent/images/hello/world_2.0.raw' })),
    ).toBeNull();
  });
});

describe('standIns', () => {
  it('previous, never the broken or a quarantined version', () => {
    expect(standIns(ext({}), '2.0')).toEqual(['1.0']);
    expect(
      standIns(ext({ quarantined: [{ version: '1.0', reason: 'x', at: 'y' }] }), '2.0'),
    ).toEqual([]);
    expect(standIns(ext({ previous: null }), '2.0')).toEqual([]);
    expect(standIns(undefined, '2.0')).toEqual([]);
  });
  it('state already on the stand-in (a rescue cut off after the switch): current first', () => {
    expect(standIns(ext({ current: '1.0', previous: '0.9' }), '2.0')).toEqual(['1.0', '0.9']);
  });
});

describe('rescuedStem', () => {
  it("the entry's own name when free, else NAME.1, NAME.2 ...", () => {
    expect(rescuedStem('bad.raw', [], new Set())).toBe('bad');
    expect(rescuedStem('bad.raw', [], new Set(['bad.raw']))).toBe('bad.1');
    expect(rescuedStem('bad.raw', [], new Set(['bad.raw', 'bad.1.raw']))).toBe('bad.2');
  });
  it('a sidecar left from an earlier rescue counts as a collision too', () => {
    expect(rescuedStem('bad.raw', ['.verity'], new Set(['bad.verity']))).toBe('bad.1');
  });
  it('a directory keeps its whole name as the stem', () => {
    expect(rescuedStem('tree', [], new Set(['tree']))).toBe('tree.1');
  });
});

describe('describeRescued', () => {
  it('says where a moved entry went and how to put it back', () => {
    const line = describeRescued({
      kind: 'sysext',
      name: 'bad',
      entry: '/var/lib/extensions/bad.raw',
      action: 'moved',
      movedTo: '/var/lib/sysext-agent/rescued/sysext/bad.raw',
      reason: 'Failed to read metadata for image bad: Package not installed',
    });
    expect(line).toContain(
      "mv '/var/lib/sysext-agent/rescued/sysext/bad.raw' '/var/lib/extensions/bad.raw'",
    );
    expect(line).toContain('systemd-sysext refresh');
  });
  it('warns that the agent itself leaves the merge when its own extension is deactivated', () => {
    const line = describeRescued({
      kind: 'sysext',
      name: 'sysext-agent',
      entry: '/var/lib/extensions/sysext-agent.raw',
      action: 'deactivated',
      version: '2.0',
      reason: 'x',
    });
    expect(line).toMatch(/agent itself is no longer merged/);
  });
});
