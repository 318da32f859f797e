/**
 * This host as systemd sees it: os-release read where systemd reads it (under the root,
 * $SYSTEMD_OS_RELEASE first with no fallback, then etc/os-release, then usr/lib/os-release,
 * absolute symlinks resolved inside the root), the machine id, the systemd version.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { readHostFacts } from '../../src/host/facts.ts';
import { fakeSystemd } from '../helpers/fake-ports.ts';

describe('readHostFacts', () => {
  let root = '';
  const saved = process.env.SYSTEMD_OS_RELEASE;
  const facts = () => readHostFacts(hostPaths(root), fakeSystemd(hostPaths(root)));

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sysext-agent-facts-'));
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    delete process.env.SYSTEMD_OS_RELEASE;
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.SYSTEMD_OS_RELEASE;
    else process.env.SYSTEMD_OS_RELEASE = saved;
    await rm(root, { recursive: true, force: true });
  });

  it('reads usr/lib/os-release through an absolute /etc/os-release link inside the root', async () => {
    await writeFile(join(root, 'usr/lib/os-release'), 'ID=debian\nVERSION_ID="12"\n');
    await symlink('/usr/lib/os-release', join(root, 'etc/os-release'));
    const f = await facts();
    expect(f.release?.osRelease).toMatchObject({ ID: 'debian', VERSION_ID: '12' });
    expect(f.release?.systemdVersion).toBe('252.39-1~deb12u2');
    expect(f.osReleaseSource).toBe(join(root, 'usr/lib/os-release'));
  });

  it('prefers etc/os-release; $SYSTEMD_OS_RELEASE (under the root) overrides both', async () => {
    await writeFile(join(root, 'usr/lib/os-release'), 'ID=debian\n');
    await writeFile(join(root, 'etc/os-release'), 'ID=fedora\n');
    expect((await facts()).release?.osRelease.ID).toBe('fedora');
    await writeFile(join(root, 'etc/os-release-next'), 'ID=debian\nVERSION_ID=13\n');
    process.env.SYSTEMD_OS_RELEASE = '/etc/os-release-next';
    expect((await facts()).release?.osRelease.VERSION_ID).toBe('13');
    process.env.SYSTEMD_OS_RELEASE = '/etc/missing';
    // No fallback: systemd then sees no os-release at all.
    expect((await facts()).release).toBeUndefined();
  });

  it('a tree without os-release under --root is not judged; an invalid one has no ID', async () => {
    expect((await facts()).release).toBeUndefined();
    await writeFile(join(root, 'etc/os-release'), Buffer.from([0x49, 0x44, 0x3d, 0xff, 0x0a]));
    const f = await facts();
    expect(f.release?.osRelease).toEqual({});
    expect(f.osReleaseSource).toContain('is not valid');
  });

  it('the machine id: 32 hex characters from etc/machine-id, else none', async () => {
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\n');
    expect((await facts()).machineId).toBeNull();
    await writeFile(join(root, 'etc/machine-id'), `${'0f'.repeat(16)}\n`);
    expect((await facts()).machineId).toBe('0f'.repeat(16));
  });
});
