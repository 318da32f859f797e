/**
 * Hand-placed images (PRODUCT.md section 8), through the CLI on a `--root` tree with a local
 * repository (no root): a plain file at the activation path whose bytes are a manifest image is
 * adopted (hard-linked into the store with its verity data, replaced by the symlink, recorded as
 * current) and then updated like any other; a plain file that matches nothing is left alone,
 * byte for byte, and the run says so.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { repoImage } from '../helpers/repo-manifest.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

const skip = missing('unsquashfs');

describe.skipIf(skip)('adopting hand-placed images', () => {
  let sb: Sandbox;
  let root: string;
  const extDir = () => join(root, 'var/lib/extensions');
  const store = () => join(root, 'var/lib/sysext-agent/images/hello');
  const agent = (...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);
  const publish = (version: string) => publishFixture(sb, version);

  beforeAll(async () => {
    sb = await makeSandbox();
    await publish('1.0');
  });
  beforeEach(async () => {
    root = join(sb.dir, `root-${randomBytes(4).toString('hex')}`);
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await mkdir(extDir(), { recursive: true });
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [sb.repo],
        trustedKeys: sb.keysDir,
        extensions: { hello: {} },
      }),
    );
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('adopts a plain file that is a manifest image, then updates it like any other', async () => {
    const placed = join(extDir(), 'hello.raw');
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), placed);
    const inode = (await stat(placed)).ino;
    const first = await agent('update');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).extensions.hello).toMatchObject({
      from: '1.0',
      result: 'up-to-date',
    });
    expect((await lstat(placed)).isSymbolicLink()).toBe(true);
    expect(await readlink(placed)).toBe('../sysext-agent/images/hello/hello_1.0.raw');
    // The same inode: a merge systemd already made from the plain file stays the stored image.
    expect((await stat(join(store(), 'hello_1.0.raw'))).ino).toBe(inode);
    const entry = await repoImage(sb.repo, 'hello', '1.0');
    expect((await readFile(join(store(), 'hello_1.0.roothash'), 'utf8')).trim()).toBe(
      entry.verity.rootHash,
    );
    const status = JSON.parse((await agent('status')).stdout);
    expect(status.extensions.hello).toMatchObject({ current: '1.0', installed: ['1.0'] });

    await publish('2.0');
    const second = await agent('update');
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).extensions.hello).toMatchObject({ from: '1.0', to: '2.0' });
    expect(await readlink(placed)).toBe('../sysext-agent/images/hello/hello_2.0.raw');
  });

  it('leaves a plain file that matches nothing alone, byte for byte, and says so', async () => {
    const placed = join(extDir(), 'hello.raw');
    const bytes = randomBytes(8192);
    await writeFile(placed, bytes);
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    const hello = JSON.parse(r.stdout).extensions.hello;
    expect(hello.result).toBe('skipped');
    expect(hello.message).toContain('matches no image of the manifest');
    expect((await lstat(placed)).isFile()).toBe(true);
    expect(await readFile(placed)).toEqual(bytes);
    await expect(stat(join(store(), 'hello_1.0.raw'))).rejects.toThrow();
  });
});
