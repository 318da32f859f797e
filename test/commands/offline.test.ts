/**
 * Acceptance: offline repositories (PRODUCT.md section 4): a `repositories` entry that is a local
 * directory, as an absolute path or a file:// URL. The CLI publishes the committed fixture images
 * into a directory and `update` installs from it with no server running and undici refused by a
 * module hook (an offline update loads no HTTP stack); a poll that finds nothing new writes
 * nothing; a tampered image is refused (HASH_MISMATCH, exit 1) with the host byte-for-byte
 * unchanged. `--root` without refresh: no root, no tools.
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

/** Makes any import of undici fail in the CLI process. */
const NO_UNDICI = `import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'undici') throw new Error('undici loaded by an offline run');
    return nextResolve(specifier, context);
  },
});
`;

interface Report {
  extensions: Record<string, { result: string; current: string | null }>;
}

describe('offline repositories: update from a local directory', () => {
  let sb: Sandbox;
  let hook: string;
  let hosts = 0;

  /** A fresh host root (with an os-release, as systemd needs) whose config names `repositories`. */
  async function makeHost(repositories: string[]): Promise<string> {
    const root = join(sb.dir, `host-${++hosts}`);
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({ repositories, trustedKeys: sb.keysDir, extensions: { hello: {} } }),
    );
    return root;
  }

  const agent = (root: string, ...args: string[]): Promise<CliResult> =>
    runCli(['--root', root, '--json', '--log-level', 'warn', ...args], {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim(),
    });

  async function update(root: string): Promise<Report> {
    const r = await agent(root, 'update');
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Report;
  }

  async function current(root: string): Promise<unknown> {
    const r = await agent(root, 'status');
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  let root: string;

  beforeAll(async () => {
    sb = await makeSandbox();
    hook = join(sb.dir, 'no-undici.mjs');
    await writeFile(hook, NO_UNDICI);
    await publishFixture(sb, '1.0');
    root = await makeHost([sb.repo]);
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('the guard is real: an http repository under the same hook fails on undici', async () => {
    const other = await makeHost(['http://127.0.0.1:9/']);
    const r = await agent(other, 'update');
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'NETWORK',
      message: expect.stringContaining('undici loaded by an offline run'),
    });
  });

  it('installs 1.0 from an absolute path; a poll with nothing new writes nothing', async () => {
    expect((await update(root)).extensions.hello?.result).toBe('staged');
    expect(await current(root)).toMatchObject({
      extensions: { hello: { current: '1.0', previous: null, installed: ['1.0'] } },
      manifest: { serial: 1 },
    });
    const before = await snapshot(root);
    expect((await update(root)).extensions.hello?.result).toBe('up-to-date');
    expect(await snapshot(root)).toEqual(before);
  });

  it('a tampered image in the directory: HASH_MISMATCH, exit 1, host unchanged', async () => {
    await publishFixture(sb, '2.0');
    const image = join(sb.repo, 'hello/hello_2.0.raw');
    const good = await readFile(image);
    const bad = Buffer.from(good);
    bad[100] = (bad[100] as number) ^ 0xff;
    await writeFile(image, bad);
    try {
      const before = await snapshot(root);
      const r = await agent(root, 'update');
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({
        code: 'HASH_MISMATCH',
        message: expect.stringContaining('hello/hello_2.0.raw'),
      });
      expect(await snapshot(root)).toEqual(before);
    } finally {
      await writeFile(image, good);
    }
  });

  it('then updates to 2.0 from the same directory', async () => {
    expect((await update(root)).extensions.hello?.result).toBe('staged');
    expect(await current(root)).toMatchObject({
      extensions: { hello: { current: '2.0', previous: '1.0', installed: ['1.0', '2.0'] } },
      manifest: { serial: 2 },
    });
  });

  it('a file:// URL (no trailing slash) and a mirror list mixing a missing medium', async () => {
    const copy = join(sb.dir, 'usb/repo');
    await cp(sb.repo, copy, { recursive: true });
    const fromUrl = await makeHost([pathToFileURL(copy).href]);
    expect((await update(fromUrl)).extensions.hello?.result).toBe('staged');
    expect(await current(fromUrl)).toMatchObject({
      extensions: { hello: { current: '2.0', installed: ['2.0'] } },
    });
    // A medium that is not mounted is skipped like a server that is down.
    const mirrors = await makeHost([join(sb.dir, 'media/absent'), `file://${copy}/`]);
    expect((await update(mirrors)).extensions.hello?.result).toBe('staged');
    expect(await current(mirrors)).toMatchObject({ extensions: { hello: { current: '2.0' } } });
  });
});
