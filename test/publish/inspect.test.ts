/**
 * src/publish/inspect.ts on hand-made squashfs and erofs trees: the magic numbers, the release
 * file where systemd reads it, symlinks resolved inside the image and never on the host, and
 * the ways a release file can be wrong. No root.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectFilesystem, readImageRelease } from '../../src/publish/inspect.ts';
import { missing } from '../helpers/requirements.ts';

const skip = missing('mksquashfs', 'unsquashfs', 'mkfs.erofs', 'fsck.erofs');

type Entry = string | Buffer | { link: string };

const FILESYSTEMS = ['squashfs', 'erofs'] as const;

describe.skipIf(skip)('reading an image without mounting it', () => {
  let work: string;
  let n = 0;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'sysext-agent-inspect-test-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Builds an image of `fs` holding `entries` (image path -> content, symlink or directory). */
  async function image(
    fs: (typeof FILESYSTEMS)[number],
    entries: Record<string, Entry>,
  ): Promise<string> {
    const tree = join(work, `tree-${n}`);
    const file = join(work, `img-${n++}.raw`);
    await mkdir(tree);
    for (const [path, entry] of Object.entries(entries)) {
      const at = join(tree, path);
      await mkdir(dirname(at), { recursive: true });
      if (typeof entry === 'string' || Buffer.isBuffer(entry)) await writeFile(at, entry);
      else await symlink(entry.link, at);
    }
    if (fs === 'squashfs') {
      await execa('mksquashfs', [tree, file, '-noappend', '-all-root', '-no-progress', '-quiet']);
    } else {
      await execa('mkfs.erofs', ['--quiet', '-T0', '--all-root', file, tree]);
    }
    return file;
  }

  const SYSEXT = 'usr/lib/extension-release.d/extension-release.hello';
  const CONFEXT = 'etc/extension-release.d/extension-release.hello';

  it('tells squashfs and erofs by their magic, and neither from anything else', async () => {
    expect(await detectFilesystem(await image('squashfs', { [SYSEXT]: 'ID=_any\n' }))).toBe(
      'squashfs',
    );
    expect(await detectFilesystem(await image('erofs', { [SYSEXT]: 'ID=_any\n' }))).toBe('erofs');
    const junk = join(work, 'junk.raw');
    await writeFile(junk, Buffer.alloc(8192, 0x61));
    expect(await detectFilesystem(junk)).toBeNull();
    const short = join(work, 'short.raw');
    await writeFile(short, 'hsq');
    expect(await detectFilesystem(short)).toBeNull();
  });

  describe.each(FILESYSTEMS)('%s', (fs) => {
    it('parses the release file as systemd does and keeps the checked fields', async () => {
      const file = await image(fs, {
        [SYSEXT]: 'ID=fedora\nVERSION_ID="40"\n# comment\nARCHITECTURE=x86-64\nSYSEXT_ID=hello\n',
      });
      const r = await readImageRelease(file, 'hello', 'sysext');
      expect(r.filesystem).toBe(fs);
      expect(r.path).toBe(SYSEXT);
      expect(r.fields).toEqual({
        ID: 'fedora',
        VERSION_ID: '40',
        ARCHITECTURE: 'x86-64',
        SYSEXT_ID: 'hello',
      });
      expect(r.checked).toEqual({ ID: 'fedora', VERSION_ID: '40', ARCHITECTURE: 'x86-64' });
    });

    it('a confext: reads etc/extension-release.d and records CONFEXT_LEVEL', async () => {
      const file = await image(fs, { [CONFEXT]: 'ID=debian\nCONFEXT_LEVEL=3\nSYSEXT_LEVEL=9\n' });
      const r = await readImageRelease(file, 'hello', 'confext');
      expect(r.checked).toEqual({ ID: 'debian', CONFEXT_LEVEL: '3' });
    });

    it('follows a symlinked release file inside the image (relative and absolute)', async () => {
      const relative = await image(fs, {
        'usr/share/hello/release': 'ID=_any\nARCHITECTURE=arm64\n',
        [SYSEXT]: { link: '../../share/hello/release' },
      });
      expect((await readImageRelease(relative, 'hello', 'sysext')).checked).toEqual({
        ID: '_any',
        ARCHITECTURE: 'arm64',
      });
      const absolute = await image(fs, {
        'usr/share/hello/release': 'ID=_any\nARCHITECTURE=riscv64\n',
        'usr/lib/extension-release.d': { link: '/usr/share/hello/rel.d' },
        'usr/share/hello/rel.d/extension-release.hello': { link: '/usr/share/hello/release' },
      });
      expect((await readImageRelease(absolute, 'hello', 'sysext')).checked).toEqual({
        ID: '_any',
        ARCHITECTURE: 'riscv64',
      });
    });

    it('never reads the host: a link out of the image stays inside it', async () => {
      // /etc/os-release exists on the host, not in this image: the link leads nowhere.
      const escaping = await image(fs, {
        'usr/lib/os-release': 'ID=_any\n',
        [SYSEXT]: { link: '../../../../../../../../etc/os-release' },
      });
      await expect(readImageRelease(escaping, 'hello', 'sysext')).rejects.toMatchObject({
        code: 'BAD_IMAGE',
        message: expect.stringMatching(
          /no usr\/lib\/extension-release\.d\/extension-release\.hello/,
        ),
      });
      // ... and the same link finds the image's own file, "../" stopping at the image's root.
      const inside = await image(fs, {
        'etc/os-release': 'ID=_any\nARCHITECTURE=s390x\n',
        [SYSEXT]: { link: '../../../../../../../../etc/os-release' },
      });
      expect((await readImageRelease(inside, 'hello', 'sysext')).checked.ARCHITECTURE).toBe(
        's390x',
      );
    });

    it('a symlink loop is refused, naming it', async () => {
      const file = await image(fs, {
        [SYSEXT]: { link: 'extension-release.loop' },
        'usr/lib/extension-release.d/extension-release.loop': { link: 'extension-release.hello' },
      });
      await expect(readImageRelease(file, 'hello', 'sysext')).rejects.toMatchObject({
        code: 'BAD_IMAGE',
        message: expect.stringContaining('too many levels of symbolic links'),
      });
    });

    it.each<[string, Record<string, Entry>, RegExp]>([
      ['a directory', { [`${SYSEXT}/x`]: 'ID=_any\n' }, /is not a regular file/],
      ['a NUL byte', { [SYSEXT]: 'ID=_any\n\0\n' }, /extension-release\.hello: .*NUL/],
      ['invalid UTF-8', { [SYSEXT]: Buffer.from([0x49, 0x44, 0x3d, 0xff, 0x0a]) }, /UTF-8|utf-8/],
      ['no ID=', { [SYSEXT]: 'VERSION_ID=1\n' }, /has no ID=/],
      ['an empty ID=', { [SYSEXT]: 'ID=\n' }, /has no ID=/],
      [
        'nothing at all',
        { 'usr/bin/hello': '#!/bin/sh\n' },
        /has no extension-release file at all/,
      ],
    ])('a release file that is %s is refused: BAD_IMAGE', async (_label, entries, why) => {
      const file = await image(fs, entries);
      await expect(readImageRelease(file, 'hello', 'sysext')).rejects.toMatchObject({
        code: 'BAD_IMAGE',
        message: expect.stringMatching(why),
      });
    });

    it('names the extensions the image has release files for instead', async () => {
      const file = await image(fs, {
        'usr/lib/extension-release.d/extension-release.world': 'ID=_any\n',
        'etc/extension-release.d/extension-release.cfg': 'ID=_any\n',
      });
      await expect(readImageRelease(file, 'hello', 'sysext')).rejects.toMatchObject({
        code: 'BAD_IMAGE',
        message: expect.stringMatching(
          /extension-release\.d\/extension-release\.world \(the sysext "world"\), etc\/extension-release\.d\/extension-release\.cfg \(the confext "cfg"\)/,
        ),
      });
    });
  });

  it('a corrupt erofs image is refused with what fsck.erofs says', async () => {
    const good = await image('erofs', { [SYSEXT]: 'ID=_any\n' });
    const bytes = await readFile(good);
    bytes.fill(0x5a, 1100, 1200); // the superblock, past its magic: the checksum fails
    const bad = join(work, 'corrupt.raw');
    await writeFile(bad, bytes);
    await expect(readImageRelease(bad, 'hello', 'sysext')).rejects.toMatchObject({
      code: 'BAD_IMAGE',
      message: expect.stringContaining('fsck.erofs'),
    });
  });

  it('a corrupt squashfs image is refused with what unsquashfs says', async () => {
    const good = await image('squashfs', { [SYSEXT]: 'ID=_any\n' });
    const bytes = await readFile(good);
    bytes.fill(0xff, 8, 96); // the superblock past the magic
    const bad = join(work, 'corrupt.sqfs');
    await writeFile(bad, bytes);
    await expect(readImageRelease(bad, 'hello', 'sysext')).rejects.toMatchObject({
      code: 'BAD_IMAGE',
      message: expect.stringContaining('unsquashfs'),
    });
  });
});
