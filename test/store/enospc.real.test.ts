/**
 * Acceptance (issue 11): a full disk on a REAL file system. The host's /var/lib of a `--root`
 * tree is a 3 MiB tmpfs mounted in a private mount namespace that a `sleep` keeps alive; the
 * agent runs in it through nsenter, and the test reads and fills the tmpfs through
 * /proc/PID/root. The free-space pre-check passes each time; the disk fills while the image is
 * on its way (the server holds the body back until the filler is written):
 *
 * - the download itself hits ENOSPC (no page left): NO_SPACE, exit 1;
 * - the download fits to the last page but staging the verity data beside it does not: NO_SPACE;
 * - an image larger than what is free: the pre-check refuses it (NO_SPACE) before a byte;
 *
 * each time the tree is byte-for-byte as before (the filler aside), a victim file and directory
 * outside are untouched, and the next run with space (filler deleted, tmpfs remounted larger)
 * succeeds.
 */
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { missing, toolPath } from '../helpers/requirements.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const skip = missing('root', 'unshare', 'nsenter', 'mksquashfs');
const NO_PROXY_ENV = { http_proxy: '', HTTP_PROXY: '', https_proxy: '', HTTPS_PROXY: '' };

describe.skipIf(skip)('ENOSPC on a real (tmpfs) file system', () => {
  let sb: Sandbox;
  let server: FaultServer;
  let holder: ChildProcess;
  let root: string;
  let varLib: string;
  const inNs = (path: string) => `/proc/${holder.pid}/root${path}`;

  async function agent(...args: string[]) {
    const r = await execa(
      toolPath('nsenter'),
      [
        '-t',
        String(holder.pid),
        '-m',
        '--',
        process.execPath,
        CLI,
        '--root',
        root,
        '--json',
        ...args,
      ],
      { reject: false, env: NO_PROXY_ENV, stdin: 'ignore' },
    );
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async function image(version: string, payload: number): Promise<string> {
    const tree = join(sb.dir, `tree-${version}`);
    await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
    await mkdir(join(tree, 'usr/share/big'), { recursive: true });
    await writeFile(join(tree, 'usr/lib/extension-release.d/extension-release.big'), 'ID=_any\n');
    await writeFile(join(tree, 'usr/share/big/blob'), randomBytes(payload));
    const file = join(sb.images, `big_${version}.raw`);
    await execa(toolPath('mksquashfs'), [tree, file, '-noappend', '-all-root', '-quiet']);
    return file;
  }

  async function publish(version: string, payload: number): Promise<void> {
    const r = await runCli([
      'publish',
      '--repo',
      sb.repo,
      '--key',
      sb.key,
      await image(version, payload),
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
  }

  /** Free bytes of the tmpfs, as the agent's statfs sees them. */
  async function free(): Promise<number> {
    const s = await statfs(inNs(varLib));
    return s.bavail * s.bsize;
  }

  /** Writes a filler file into the tmpfs until `leave` bytes are free (0: until ENOSPC). */
  async function fill(leave: number): Promise<void> {
    const handle = await open(inNs(join(varLib, 'filler')), 'a');
    try {
      for (let left = (await free()) - leave; left > 0;) {
        const n = Math.min(left, 1 << 16);
        try {
          await handle.write(Buffer.alloc(n));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC' && leave === 0) return;
          throw err;
        }
        left -= n;
      }
    } finally {
      await handle.close();
    }
  }

  /** The tree as the agent left it, the filler aside. */
  async function tree(): Promise<Record<string, string>> {
    const all = await snapshot(inNs(varLib));
    delete all['./filler'];
    return all;
  }

  /** Starts `update`, fills the disk once the image's partial file exists, returns the result. */
  async function updateFillingAt(version: string, leave: (size: number) => number) {
    const path = `/big/big_${version}.raw`;
    server.resetStats();
    server.setFault(path, { bodyDelayMs: 1500, times: 1 });
    const run = agent('update');
    const part = inNs(join(varLib, `sysext-agent/partial/big_${version}.raw.part`));
    for (let i = 0; i < 1000 && !existsSync(part); i++) await sleep(5);
    expect(existsSync(part), 'the partial download appeared').toBe(true);
    expect(server.stats(path).bodyBytes).toBe(0);
    const size = statSync(join(sb.repo, path)).size;
    await fill(leave(size));
    return run;
  }

  const victim = () => snapshot(join(sb.dir, 'victim'));

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    varLib = join(root, 'var/lib');
    await mkdir(varLib, { recursive: true });
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await mkdir(join(sb.dir, 'victim/dir'), { recursive: true });
    await writeFile(join(sb.dir, 'victim/file'), 'precious\n');
    await writeFile(join(sb.dir, 'victim/dir/file'), 'precious too\n');
    server = await startFaultServer(sb.repo);
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [server.url],
        trustedKeys: sb.keysDir,
        extensions: { big: {} },
        network: { attempts: 1 },
      }),
    );
    holder = spawn(
      toolPath('unshare'),
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs -o size=3m,mode=755 tmpfs '${varLib}' && echo ready && exec sleep 3600`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((ok, fail) => {
      holder.stdout?.once('data', () => ok());
      holder.once('exit', (code) => fail(new Error(`the namespace holder exited (${code})`)));
    });
    await publish('1.0', 16 * 1024);
  }, 60_000);
  afterAll(async () => {
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
    await server?.close();
    await sb?.cleanup();
  });

  it('a first install fits', async () => {
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).extensions.big.to).toBe('1.0');
  });

  it('staging the verity data hits ENOSPC after the download fit: NO_SPACE, nothing kept', async () => {
    await publish('2.0', 1200 * 1024);
    const before = await tree();
    const outside = await victim();
    // Leave exactly the image's pages: the download fits, its hash tree beside it does not.
    const r = await updateFillingAt('2.0', (size) => Math.ceil(size / 4096) * 4096);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringContaining('big 2.0'),
    });
    expect(r.stderr).not.toContain('unexpected error');
    expect(server.stats('/big/big_2.0.raw').bodyBytes).toBeGreaterThan(1200 * 1024);
    expect(await tree()).toEqual(before);
    expect(await victim()).toEqual(outside);
    await rm(inNs(join(varLib, 'filler')));
  }, 60_000);

  it('the download hits ENOSPC: NO_SPACE, nothing kept; with space again, it succeeds', async () => {
    const before = await tree();
    const outside = await victim();
    const r = await updateFillingAt('2.0', () => 0);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringContaining('big/big_2.0.raw'),
    });
    expect(r.stderr).not.toContain('unexpected error');
    expect(await tree()).toEqual(before);
    expect(await victim()).toEqual(outside);

    await rm(inNs(join(varLib, 'filler')));
    const ok = await agent('update');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).extensions.big).toMatchObject({ from: '1.0', to: '2.0' });
  }, 60_000);

  it('an image larger than the free space: the pre-check refuses it; remounted larger, it succeeds', async () => {
    await publish('3.0', 2200 * 1024);
    const before = await tree();
    server.resetStats();
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringContaining('not enough free space'),
    });
    expect(await tree()).toEqual(before);
    expect(server.stats('/big/big_3.0.raw').requests).toBe(0);

    await execa(toolPath('nsenter'), [
      '-t',
      String(holder.pid),
      '-m',
      '--',
      'mount',
      '-o',
      'remount,size=16m',
      varLib,
    ]);
    const ok = await agent('update');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).extensions.big).toMatchObject({ from: '2.0', to: '3.0' });
  }, 60_000);
});
