/**
 * Which image a host gets, against the real systemd-sysext 252 merging in a private mount
 * namespace (PRODUCT.md section 3.1). A repository with versions built for ID=_any, for this
 * host (debian 12), for another VERSION_ID, for ARCHITECTURE=arm64 and for ID=fedora: update
 * installs the newest compatible one, reports the others as held back with their reasons, and
 * never exits 3 for them. An OS update (a new os-release bind-mounted in the namespace, seen by
 * the agent and systemd-sysext alike) moves the host to the version built for its new release. A pin and
 * `update NAME@VERSION` (a downgrade) work against the real merge.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realHost, runBin, selftest, type RealHost } from '../helpers/real-host.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

/** This machine's os-release decides what is compatible: the test is written for Debian 12. */
const THIS = { ID: 'debian', VERSION_ID: '12' };

describe.skipIf(skip)('compatibility with the real systemd-sysext', () => {
  let h: RealHost;
  const osRelease13 = () => join(h.sb.dir, 'os-release-13');
  // systemd-sysext 252 also applies $SYSTEMD_OS_RELEASE inside each image it dissects (and
  // then fails to read its metadata), so the namespace gets the new os-release by bind mount
  // (/etc/os-release is a symlink to it on Debian).
  const as13 = () => `mount --bind '${osRelease13()}' /usr/lib/os-release || exit 98`;

  beforeAll(async () => {
    h = await realHost({ hello: selftest('hello') });
    const build = async (version: string, release: string[]) =>
      (await buildImages(h.sb.images, [version], { release }))[0] as string;
    await h.publish(
      await build('1.0', ['ID=_any']),
      await build('2.0', [`ID=${THIS.ID}`, `VERSION_ID=${THIS.VERSION_ID}`]),
      await build('3.0', ['ID=debian', 'VERSION_ID=13']),
      await build('4.0', ['ID=_any', 'ARCHITECTURE=arm64']),
      await build('5.0', ['ID=fedora', 'VERSION_ID=41']),
    );
    await writeFile(osRelease13(), 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian 13"\n');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('installs the newest compatible version; the others are held back with reasons', async () => {
    const r = await h.ns(h.run('update', 'update'), runBin('hello'), h.run('check', 'check'));
    expect(r.values.update, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 2.0');
    const report = await h.json('update');
    expect(report).toMatchObject({ extensions: { hello: { result: 'installed', to: '2.0' } } });
    const held = (
      report.extensions as Record<string, { heldBack: { version: string; reason: string }[] }>
    ).hello?.heldBack;
    expect(held?.map((x) => x.version)).toEqual(['5.0', '4.0', '3.0']);
    expect(held?.[0]?.reason).toContain('ID=fedora');
    expect(held?.[1]?.reason).toContain('arm64');
    expect(held?.[2]?.reason).toContain('13');
    expect(await h.json('check')).toMatchObject({
      host: { id: 'debian', versionId: '12', architecture: 'x86-64' },
      extensions: { hello: { current: '2.0', available: '2.0', action: 'none' } },
    });
  });

  it('a second run does nothing and exits 0 (no collateral rollback, no retry)', async () => {
    const r = await h.ns(
      h.run('again', 'update'),
      'systemd-sysext refresh >/dev/null',
      runBin('hello'),
    );
    expect(r.values.again, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 2.0');
  });

  it('after an OS update, status says 2.0 no longer fits, and update moves to 3.0', async () => {
    const r = await h.ns(
      as13(),
      h.run('status', 'status'),
      h.run('update13', 'update'),
      runBin('hello'),
    );
    const status = await h.json('status');
    expect(status).toMatchObject({ extensions: { hello: { current: '2.0' } } });
    expect(
      (status.extensions as Record<string, { currentIncompatible: string | null }>).hello
        ?.currentIncompatible,
    ).toContain('12');
    expect(r.values.update13, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 3.0');
  });

  it('back on the old OS release, the next run returns to 2.0', async () => {
    const r = await h.ns(h.run('update12', 'update'), runBin('hello'));
    expect(r.values.update12, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 2.0');
  });

  it('update hello@1.0 is a deliberate downgrade; update hello@5.0 is refused', async () => {
    const r = await h.ns(
      h.run('down', 'update hello@1.0'),
      runBin('hello'),
      h.run('fedora', 'update hello@5.0'),
      runBin('hello', 'after'),
    );
    expect(r.values.down, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.fedora).toBe('1');
    expect(await h.json('fedora')).toMatchObject({ error: { code: 'INCOMPATIBLE' } });
    expect(r.values.after).toBe('hello 1.0');
  });

  it('a pin holds the host at that version', async () => {
    await h.configure({ hello: { ...selftest('hello'), pin: '1.0' } });
    // 1.0 is current since the downgrade above: without the pin, update would go to 2.0.
    const r = await h.ns(
      h.run('pinned', 'update'),
      'systemd-sysext refresh >/dev/null',
      runBin('hello'),
    );
    expect(r.values.pinned, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    await h.configure({ hello: selftest('hello') });
    const u = await h.ns(h.run('unpinned', 'update'), runBin('hello'));
    expect(u.values.unpinned, u.stderr).toBe('0');
    expect(u.values.hello).toBe('hello 2.0');
  });
});
