/**
 * Acceptance: `rescue` with the real systemd-sysext 252. Every merge happens in the test's
 * private namespace (h.ns, the sandbox's var-lib bound over /var/lib), every trial in a
 * namespace of its own below it; the host's mounts, /run and `systemd-sysext status` must be
 * the same afterwards. An image of random bytes next to a good extension makes the refresh fail
 * (nothing merged); after rescue it sits in rescued/ and the good extension merges. A managed
 * version corrupted in place gives way to its previous version and is quarantined.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemdTools } from '../../src/systemd/tools.ts';
import { runCli } from '../helpers/cli.ts';
import { realHost, runBin, selftest, type RealHost } from '../helpers/real-host.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

/** What the host shows: its mounts, the tool's status, the directories a merge may touch. */
async function hostView(): Promise<Record<string, unknown>> {
  const status = await execa('systemd-sysext', ['status'], { reject: false });
  const list = (d: string) => readdir(d).catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
  return {
    mounts: await readFile('/proc/self/mountinfo', 'utf8'),
    status: status.stdout,
    runSysext: await list('/run/systemd/sysext'),
    runExtensions: await list('/run/extensions'),
    varLibExtensions: await list('/var/lib/extensions'),
  };
}

describe.skipIf(skip)('rescue with the real systemd-sysext', () => {
  let h: RealHost;
  let host: Record<string, unknown>;
  const extDir = () => join(h.sb.varLib, 'extensions');
  const refresh = (key: string) => `systemd-sysext refresh >/dev/null 2>&1; echo "${key}=$?"`;

  beforeAll(async () => {
    host = await hostView();
    h = await realHost({ hello: selftest('hello') });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('random bytes next to a good extension: refresh fails; rescue moves them aside', async () => {
    const [v1] = await buildImages(h.sb.images, ['1.0']);
    await h.publish(v1 as string);
    const install = await h.ns(h.run('install', 'update'));
    expect(install.values.install, install.stderr).toBe('0');
    const bad = randomBytes(1 << 20);
    await writeFile(join(extDir(), 'bad.raw'), bad);

    const r = await h.ns(
      refresh('before'),
      runBin('hello', 'hello-before'),
      'systemd-sysext unmerge >/dev/null 2>&1',
      h.run('rescue', 'rescue'),
      refresh('after'),
      runBin('hello'),
    );
    expect(r.values.before).not.toBe('0');
    expect(r.values['hello-before']).toBe('');
    expect(r.values.rescue, r.stderr).toBe('0');
    expect(r.values.after).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(await h.json('rescue')).toMatchObject({
      exitCode: 0,
      mergeOk: true,
      kinds: { sysext: 'rescued' },
      rescued: [
        {
          kind: 'sysext',
          name: 'bad',
          entry: '/var/lib/extensions/bad.raw',
          action: 'moved',
          movedTo: '/var/lib/sysext-agent/rescued/sysext/bad.raw',
          reason: expect.stringMatching(/bad/),
        },
      ],
    });
    expect(r.stderr).toMatch(/took \/var\/lib\/extensions\/bad.raw out of the sysext merge/);
    expect(existsSync(join(extDir(), 'bad.raw'))).toBe(false);
    const moved = join(h.sb.varLib, 'sysext-agent/rescued/sysext/bad.raw');
    expect((await readFile(moved)).equals(bad)).toBe(true);
  });

  it('nothing to rescue: exit 0, nothing moved', async () => {
    const r = await h.ns(h.run('again', 'rescue'));
    expect(r.values.again, r.stderr).toBe('0');
    expect(await h.json('again')).toMatchObject({ rescued: [], mergeOk: true });
  });

  it('a managed version corrupted in place: the previous one is switched in, it is quarantined', async () => {
    const [, v2] = await buildImages(h.sb.images, ['1.0', '2.0']);
    await h.publish(v2 as string);
    const up = await h.ns(h.run('update', 'update'), runBin('hello'));
    expect(up.values.update, up.stderr).toBe('0');
    expect(up.values.hello).toBe('hello 2.0');
    const stored = join(h.sb.varLib, 'sysext-agent/images/hello/hello_2.0.raw');
    await writeFile(stored, randomBytes((await readFile(stored)).length));

    const r = await h.ns(
      refresh('before'),
      h.run('rescue2', 'rescue'),
      refresh('after'),
      runBin('hello'),
      h.run('status', 'status'),
    );
    expect(r.values.before).not.toBe('0');
    expect(r.values.rescue2, r.stderr).toBe('0');
    expect(r.values.after).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(await h.json('rescue2')).toMatchObject({
      rescued: [
        { name: 'hello', action: 'switched-to-previous', version: '2.0', switchedTo: '1.0' },
      ],
    });
    expect(await h.json('status')).toMatchObject({
      extensions: {
        hello: {
          current: '1.0',
          quarantined: ['2.0'],
          quarantine: [{ version: '2.0', reason: expect.stringMatching(/does not merge/) }],
        },
      },
    });
  });

  it('a trial from the host namespace merges only in its own namespace', async () => {
    // --root: systemd 252 takes only regular files there (it does not follow symlinks).
    const [good] = await buildImages(h.sb.images, ['3.0']);
    const dir = join(h.sb.dir, 'root/var/lib/extensions');
    await execa('mkdir', ['-p', dir, join(h.sb.dir, 'root/usr'), join(h.sb.dir, 'root/etc')]);
    await execa('cp', ['/etc/os-release', join(h.sb.dir, 'root/etc/')]);
    await execa('cp', [good as string, join(dir, 'hello.raw')]);
    const tools = systemdTools();
    const started = performance.now();
    const t = await tools.trialMerge({ kind: 'sysext', root: join(h.sb.dir, 'root') });
    const ms = performance.now() - started;
    expect(t).toEqual({ ok: true, detail: expect.stringMatching(/Merged extensions/) });
    console.info(`one trial merge: ${ms.toFixed(0)} ms`);
    expect(existsSync(join(h.sb.dir, 'root/usr/bin/hello'))).toBe(false);
  });

  it('--root: entries outside the agent directory are named, never touched (exit 4)', async () => {
    const root = join(h.sb.dir, 'root2');
    for (const d of ['etc/extensions', 'var/lib/extensions', 'usr'])
      await mkdir(join(root, d), { recursive: true });
    await copyFile('/etc/os-release', join(root, 'etc/os-release'));
    const junk = randomBytes(8192);
    await writeFile(join(root, 'var/lib/extensions/bad.raw'), junk);
    await writeFile(join(root, 'etc/extensions/other.raw'), junk);
    const r = await runCli(['--root', root, '--json', '--log-level', 'warn', 'rescue']);
    expect(r.exitCode, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      mergeOk: false,
      error: { code: 'RESCUE_INCOMPLETE' },
      rescued: [
        { action: 'moved', movedTo: join(root, 'var/lib/sysext-agent/rescued/sysext/bad.raw') },
      ],
    });
    expect(JSON.stringify(report.error)).toContain(join(root, 'etc/extensions/other.raw'));
    expect((await readFile(join(root, 'etc/extensions/other.raw'))).equals(junk)).toBe(true);
  });

  it('the host is as it was', async () => {
    expect(await hostView()).toEqual(host);
  });
});
