/**
 * `publish` reads and checks each image (PRODUCT.md section 5) and stores images of one version
 * side by side (section 3.1), through the real CLI: refusals leave the repository byte for byte
 * as it was; the release fields systemd checks are recorded for squashfs and erofs images; two
 * architectures of one version live next to each other. No root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';
import { buildImage, rawPayload, verifiedPayload } from './images.ts';

const skip = missing('mksquashfs', 'unsquashfs', 'mkfs.erofs', 'fsck.erofs');

describe.skipIf(skip)('publish reads and checks the image', () => {
  let sb: Sandbox;
  let n = 0;
  const publish = (...args: string[]) =>
    runCli(['--json', 'publish', '--repo', sb.repo, '--key', sb.key, ...args]);
  /** A fresh directory for one test's images. */
  const dir = () => join(sb.dir, `build-${n++}`);

  /** Copies `image` to `DIR/FILE_NAME`, the name publish will see. */
  async function renamed(image: string, fileName: string): Promise<string> {
    const d = dir();
    await mkdir(d, { recursive: true });
    const to = join(d, fileName);
    await copyFile(image, to);
    return to;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    const first = await publish(await buildImage(dir(), '1.0'));
    expect(first.exitCode, first.stderr).toBe(0);
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  async function expectRefused(
    args: string[],
    code: string,
    exitCode: number,
    message: RegExp,
  ): Promise<void> {
    const before = await snapshot(sb.repo);
    const r = await publish(...args);
    expect(r.exitCode, r.stderr).toBe(exitCode);
    expect(JSON.parse(r.stdout).error.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(await snapshot(sb.repo)).toEqual(before);
  }

  it('refuses random bytes: BAD_IMAGE, exit 1, repository unchanged', async () => {
    const file = join(dir(), 'hello_3.0.raw');
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, randomBytes(8192));
    await expectRefused([file], 'BAD_IMAGE', 1, /neither a squashfs image .* nor an erofs image/);
  });

  it.each([
    ['squashfs', false],
    ['erofs', true],
  ])(
    'refuses a %s image whose release file names another extension: BAD_IMAGE, exit 1, naming it',
    async (_fs, erofs) => {
      const other = await buildImage(dir(), '3.0', { name: 'other', erofs });
      const file = await renamed(other, 'hello_3.0.raw');
      await expectRefused(
        [file],
        'BAD_IMAGE',
        1,
        /no usr\/lib\/extension-release\.d\/extension-release\.hello .*extension-release\.other/,
      );
    },
  );

  it('refuses a confext published as a sysext, and a sysext as a confext: BAD_IMAGE, exit 1', async () => {
    const confext = await buildImage(dir(), '3.0', { confext: true });
    await expectRefused([confext], 'BAD_IMAGE', 1, /is a confext, not a sysext.*--kind confext/);
    const sysext = await buildImage(dir(), '3.0');
    await expectRefused(
      ['--kind', 'confext', sysext],
      'BAD_IMAGE',
      1,
      /is a sysext, not a confext.*--kind sysext/,
    );
  });

  it('refuses an image without ID= in its release file: systemd merges it nowhere', async () => {
    const noId = await buildImage(dir(), '3.0', { release: ['ID'] });
    await expectRefused([noId], 'BAD_IMAGE', 1, /has no ID=/);
  });

  it('one bad image among good ones: nothing is written, not even the good ones', async () => {
    const good = await buildImage(dir(), '4.0');
    const bad = join(dir(), 'hello_5.0.raw');
    await mkdir(join(bad, '..'), { recursive: true });
    await writeFile(bad, randomBytes(4096));
    await expectRefused([good, bad], 'BAD_IMAGE', 1, /neither a squashfs/);
    expect(existsSync(join(sb.repo, 'hello/hello_4.0.raw'))).toBe(false);
  });

  it('a refused image does not create a repository that was not there', async () => {
    const repo = join(sb.dir, 'not-yet');
    const file = join(dir(), 'hello_1.0.raw');
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, randomBytes(4096));
    const r = await runCli(['publish', '--repo', repo, '--key', sb.key, file]);
    expect(r.exitCode).toBe(1);
    expect(existsSync(repo)).toBe(false);
  });

  it('a bad file name stays a usage error (exit 2)', async () => {
    const image = await buildImage(dir(), '3.0');
    const file = await renamed(image, 'hello-3.0.raw');
    await expectRefused([file], 'USAGE', 2, /NAME_VERSION\.raw/);
  });

  it('an extension keeps its kind: a confext under a sysext name is a usage error (exit 2)', async () => {
    const confext = await buildImage(dir(), '3.0', { confext: true });
    await expectRefused(
      ['--kind', 'confext', confext],
      'USAGE',
      2,
      /hello is a sysext in this repository/,
    );
  });

  it.each([
    ['squashfs', false],
    ['erofs', true],
  ])('records the release fields systemd checks, as read from a %s image', async (fs, erofs) => {
    const image = await buildImage(dir(), `6.${erofs ? 1 : 0}`, {
      erofs,
      release: ['ID=fedora', 'VERSION_ID=40', 'ARCHITECTURE=arm64', 'SYSEXT_LEVEL=2', 'OTHER=x'],
    });
    const r = await publish(image);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.images[0].filesystem).toBe(fs);
    const version = `6.${erofs ? 1 : 0}`;
    const entry = (await verifiedPayload(sb)).extensions.hello?.versions[version]?.images[0];
    // The fields systemd's merge checks read; SYSEXT_ID, SYSEXT_VERSION_ID and OTHER are not.
    expect(entry?.release).toEqual({
      ID: 'fedora',
      VERSION_ID: '40',
      SYSEXT_LEVEL: '2',
      ARCHITECTURE: 'arm64',
    });
    expect(entry?.path).toBe(`hello/arm64_fedora_40_level-2/hello_${version}.raw`);
    const bytes = await readFile(join(sb.repo, entry?.path ?? 'missing'));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry?.sha256);
  });

  it('records a confext erofs image with CONFEXT_LEVEL', async () => {
    const image = await buildImage(dir(), '1.0', {
      name: 'site',
      confext: true,
      erofs: true,
      release: ['ID=debian', 'VERSION_ID=12', 'CONFEXT_LEVEL=1'],
    });
    const r = await publish('--kind', 'confext', image);
    expect(r.exitCode, r.stderr).toBe(0);
    const site = (await verifiedPayload(sb)).extensions.site;
    expect(site?.kind).toBe('confext');
    expect(site?.versions['1.0']?.images[0]?.release).toEqual({
      ID: 'debian',
      VERSION_ID: '12',
      CONFEXT_LEVEL: '1',
    });
    expect(site?.versions['1.0']?.images[0]?.path).toBe('site/any_debian_12_level-1/site_1.0.raw');
  });
});

describe.skipIf(skip)('images of one version side by side', () => {
  let sb: Sandbox;
  let x86: string;
  let arm: string;
  const publish = (...args: string[]) =>
    runCli(['--json', 'publish', '--repo', sb.repo, '--key', sb.key, ...args]);

  beforeAll(async () => {
    sb = await makeSandbox();
    x86 = await buildImage(join(sb.dir, 'x86-64'), '2.1', { release: ['ARCHITECTURE=x86-64'] });
    arm = await buildImage(join(sb.dir, 'arm64'), '2.1', {
      release: ['ARCHITECTURE=arm64'],
      erofs: true,
    });
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('two architectures of 2.1: both images in the version, both files there, each matching its sha256', async () => {
    const first = await publish(x86);
    expect(first.exitCode, first.stderr).toBe(0);
    const second = await publish(arm);
    expect(second.exitCode, second.stderr).toBe(0);
    const payload = await verifiedPayload(sb);
    expect(payload.serial).toBe(2);
    const images = payload.extensions.hello?.versions['2.1']?.images ?? [];
    expect(images.map((i) => [i.path, i.release])).toEqual([
      ['hello/x86-64/hello_2.1.raw', { ID: '_any', ARCHITECTURE: 'x86-64' }],
      ['hello/arm64/hello_2.1.raw', { ID: '_any', ARCHITECTURE: 'arm64' }],
    ]);
    for (const [entry, source] of [
      [images[0], x86],
      [images[1], arm],
    ] as const) {
      const bytes = await readFile(join(sb.repo, entry?.path ?? 'missing'));
      expect(bytes.equals(await readFile(source))).toBe(true);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry?.sha256);
      expect(bytes.length).toBe(entry?.size);
    }
  });

  it('the same bytes again: unchanged, re-signed with the next serial', async () => {
    const r = await publish(arm);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).images[0].unchanged).toBe(true);
    const payload = await verifiedPayload(sb);
    expect(payload.serial).toBe(3);
    expect(payload.extensions.hello?.versions['2.1']?.images).toHaveLength(2);
  });

  it('the same release with other bytes is refused (exit 2), repository unchanged', async () => {
    const other = await buildImage(join(sb.dir, 'x86-64-other'), '2.1', {
      release: ['ARCHITECTURE=x86-64'],
      healthFail: true,
    });
    const before = await snapshot(sb.repo);
    const r = await publish(other);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('USAGE');
    expect(r.stderr).toContain('already published for ID=_any ARCHITECTURE=x86-64');
    expect(await snapshot(sb.repo)).toEqual(before);
  });

  it('an OS release variant and an image for every host join the same version', async () => {
    const fedora = await buildImage(join(sb.dir, 'fedora'), '2.1', {
      release: ['ID=fedora', 'VERSION_ID=41', 'ARCHITECTURE=x86-64'],
    });
    const any = await buildImage(join(sb.dir, 'any'), '2.1');
    const r = await publish(fedora, any);
    expect(r.exitCode, r.stderr).toBe(0);
    const images = (await verifiedPayload(sb)).extensions.hello?.versions['2.1']?.images ?? [];
    expect(images.map((i) => i.path)).toEqual([
      'hello/x86-64/hello_2.1.raw',
      'hello/arm64/hello_2.1.raw',
      'hello/x86-64_fedora_41/hello_2.1.raw',
      'hello/hello_2.1.raw',
    ]);
    for (const entry of images) {
      const bytes = await readFile(join(sb.repo, entry.path));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry.sha256);
    }
  });

  it('releases differing only in a field the path does not show get distinct paths', async () => {
    const scoped = await buildImage(join(sb.dir, 'scoped'), '2.1', {
      release: ['ARCHITECTURE=x86-64', 'SYSEXT_SCOPE=system initrd'],
    });
    const r = await publish(scoped);
    expect(r.exitCode, r.stderr).toBe(0);
    const images = (await verifiedPayload(sb)).extensions.hello?.versions['2.1']?.images ?? [];
    const added = images.at(-1);
    expect(added?.release).toEqual({
      ID: '_any',
      ARCHITECTURE: 'x86-64',
      SYSEXT_SCOPE: 'system initrd',
    });
    expect(added?.path).toMatch(/^hello\/x86-64~[0-9a-f]{8}\/hello_2\.1\.raw$/);
    expect(new Set(images.map((i) => i.path)).size).toBe(images.length);
    const bytes = await readFile(join(sb.repo, added?.path ?? 'missing'));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(added?.sha256);
  });

  it('the written document is schema 2 with the release of every image', async () => {
    const doc = (await rawPayload(sb)) as {
      schema: number;
      extensions: { hello: { versions: Record<string, { images: { release?: unknown }[] }> } };
    };
    expect(doc.schema).toBe(2);
    for (const image of doc.extensions.hello.versions['2.1']?.images ?? []) {
      expect(image.release).toBeTypeOf('object');
    }
  });
});
