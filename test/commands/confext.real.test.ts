/**
 * Configuration extensions against the real systemd-confext (systemd 257) in a debootstrapped
 * Debian trixie tree: install, update, a failing health check rolled back, rollback and
 * remove, each proven by what the merged /etc of that tree shows.
 */
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { PROJECT, CLI, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';
import { inTrixie, trixieTree } from '../helpers/trixie.ts';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

// The agent, systemd-confext and losetup run inside the trixie tree; the host namespaces, mounts
// and chroots it (root, unshare), lends its loop devices, builds the images and the tree.
const skip = missing('root', 'unshare', 'loop-devices', 'mksquashfs', 'debootstrap');

describe.skipIf(skip)('confext with the real systemd-confext 257 (trixie tree)', () => {
  let sb: Sandbox;
  let tree: string;
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    tree = await trixieTree();
    sb = await makeSandbox();
    for (const d of ['sysext-agent', 'confexts'])
      await mkdir(join(sb.varLib, d), { recursive: true });
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await sb.writeConfig({
      repositories: [server.url],
      extensions: {
        // Healthy when the merged /etc shows the version being installed.
        site: {
          healthCheck: ['/bin/sh', '-c', 'grep -qx "site $SYSEXT_AGENT_VERSION" /etc/site.conf'],
        },
      },
    });
  }, 600_000);
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  /** The agent and then `script` in one namespace of the tree; prints `rc=N` after the agent. */
  async function run(agentArgs: string, script = ''): Promise<{ rc: number; out: string }> {
    const agent = `'${process.execPath}' '${CLI}' --config '${sb.configFile}' --json --log-level warn ${agentArgs}`;
    const r = await inTrixie(
      tree,
      [PROJECT, dirname(process.execPath), sb.dir],
      { 'sysext-agent': join(sb.varLib, 'sysext-agent'), confexts: join(sb.varLib, 'confexts') },
      `${agent} > '${sb.dir}/out.json'; echo "rc=$?"; ${script}; systemd-confext unmerge >/dev/null 2>&1; true`,
    );
    const rc = Number(/rc=(\d+)/.exec(r.stdout)?.[1] ?? NaN);
    return { rc, out: `${r.stdout}\n${r.stderr}` };
  }

  const showConf = `echo "conf=$(cat /etc/site.conf 2>/dev/null)"`;

  it('installs 1.0 and updates to 2.0, each merged into /etc', async () => {
    const [v1, v2] = await buildImages(sb.images, ['1.0', '2.0'], { name: 'site', confext: true });
    expect(
      (
        await runCli([
          'publish',
          '--repo',
          sb.repo,
          '--key',
          sb.key,
          '--kind',
          'confext',
          v1 as string,
        ])
      ).exitCode,
    ).toBe(0);
    const first = await run('update', showConf);
    expect(first.rc, first.out).toBe(0);
    expect(first.out).toContain('conf=site 1.0');

    expect(
      (
        await runCli([
          'publish',
          '--repo',
          sb.repo,
          '--key',
          sb.key,
          '--kind',
          'confext',
          v2 as string,
        ])
      ).exitCode,
    ).toBe(0);
    const second = await run('update', showConf);
    expect(second.rc, second.out).toBe(0);
    expect(second.out).toContain('conf=site 2.0');
  });

  it('a version that fails its health check is rolled back: exit 3, 2.0 still merged', async () => {
    // 3.0's /etc/site.conf says 2.5, so the health check (it must say 3.0) fails.
    const [bad] = await buildImages(join(sb.dir, 'bad'), ['2.5'], { name: 'site', confext: true });
    const renamed = join(sb.images, 'site_3.0.raw');
    await copyFile(bad as string, renamed);
    expect(
      (await runCli(['publish', '--repo', sb.repo, '--key', sb.key, '--kind', 'confext', renamed]))
        .exitCode,
    ).toBe(0);
    const r = await run('update', showConf);
    expect(r.rc, r.out).toBe(3);
    expect(r.out).toContain('conf=site 2.0');
  });

  it('rollback returns to 1.0, remove takes it out of /etc', async () => {
    const back = await run('rollback', showConf);
    expect(back.rc, back.out).toBe(0);
    expect(back.out).toContain('conf=site 1.0');
    const gone = await run('remove site', `${showConf}; ls /var/lib/confexts`);
    expect(gone.rc, gone.out).toBe(0);
    expect(gone.out).toMatch(/^conf=$/m);
    expect(gone.out).not.toContain('site.raw');
  });
});
