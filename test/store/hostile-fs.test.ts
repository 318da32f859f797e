/**
 * Issue 11, classes 2, 7 and 8, at the edges that touch the file system: bounded no-follow
 * reads, the lock, the activation entries, partial downloads and the CLI's errno mapping. Each
 * planted entry (and a victim file and directory beside the tree) is byte-for-byte as it was;
 * every case that used to hang is bounded by the test's own timeout.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemError } from '../../src/cli/system-error.ts';
import { hostPaths } from '../../src/config/paths.ts';
import { AgentError } from '../../src/errors.ts';
import { discardPartial, resumeDecision } from '../../src/net/partial.ts';
import { activate, deactivate } from '../../src/store/activation.ts';
import { deleteStored, listStored } from '../../src/store/images.ts';
import { HostLock } from '../../src/store/lock.ts';
import { ownDir, readSmallFile } from '../../src/store/nofollow.ts';
import type { ImageEntry } from '../../src/manifest/schema.ts';
import { snapshot } from '../helpers/sandbox.ts';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AgentError) return err.code;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('hostile file system entries', () => {
  let dir: string;
  let root: string;
  let victim: string;
  const paths = () => hostPaths(root);
  const entry = { size: 8192, sha256: 'a'.repeat(64), path: 'hello/hello_1.0.raw' } as ImageEntry;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hostile-fs-'));
    root = join(dir, 'root');
    victim = join(dir, 'victim');
    await mkdir(join(victim, 'dir'), { recursive: true });
    await writeFile(join(victim, 'file'), 'precious\n');
    await writeFile(join(victim, 'dir/file'), 'precious too\n');
    await mkdir(paths().partialDir, { recursive: true });
    await mkdir(paths().sysextDir, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('readSmallFile: /dev/zero is refused, a FIFO does not block, a long file is TOO_LARGE', async () => {
    const zero = join(dir, 'zero');
    await symlink('/dev/zero', zero);
    expect(await codeOf(readSmallFile(zero, 1024))).toBe('FOREIGN_ENTRY');
    expect(await codeOf(readSmallFile('/dev/zero', 1024))).toBe('FOREIGN_ENTRY');
    await execa('mkfifo', [join(dir, 'fifo')]);
    expect(await codeOf(readSmallFile(join(dir, 'fifo'), 1024))).toBe('FOREIGN_ENTRY');
    await writeFile(join(dir, 'long'), Buffer.alloc(2048));
    expect(await codeOf(readSmallFile(join(dir, 'long'), 1024))).toBe('TOO_LARGE');
    expect(await readSmallFile(join(dir, 'absent'), 1024)).toBeNull();
  });

  it('ownDir refuses a symlink to a directory elsewhere and writes nothing through it', async () => {
    const link = join(paths().imagesDir, 'hello');
    await mkdir(paths().imagesDir, { recursive: true });
    await symlink(join(victim, 'dir'), link);
    const before = await snapshot(victim);
    expect(await codeOf(ownDir(link))).toBe('FOREIGN_ENTRY');
    expect(await codeOf(listStored(paths(), 'hello'))).toBe('FOREIGN_ENTRY');
    await writeFile(join(victim, 'dir/hello_1.0.raw'), "not the agent's\n");
    const withFile = await snapshot(victim);
    expect(await codeOf(deleteStored(paths(), 'hello', '1.0'))).toBe('FOREIGN_ENTRY');
    expect(await snapshot(victim)).toEqual(withFile);
    expect(withFile).not.toEqual(before);
  });

  describe('the lock path', () => {
    const acquire = () => HostLock.acquire(paths().lockFile, { waitMs: 0 });

    it('a directory there: FOREIGN_ENTRY at once (it used to be taken for a stale lock forever)', async () => {
      await mkdir(join(paths().lockFile, 'inside'), { recursive: true });
      const before = await snapshot(root);
      expect(await codeOf(acquire())).toBe('FOREIGN_ENTRY');
      expect(await snapshot(root)).toEqual(before);
    });

    it('a symlink to /dev/zero or a FIFO there: FOREIGN_ENTRY, never read', async () => {
      await symlink('/dev/zero', paths().lockFile);
      expect(await codeOf(acquire())).toBe('FOREIGN_ENTRY');
      await rm(paths().lockFile);
      await execa('mkfifo', [paths().lockFile]);
      expect(await codeOf(acquire())).toBe('FOREIGN_ENTRY');
    });

    it('a stale lock with a directory at its break guard: FOREIGN_ENTRY, not an endless wait', async () => {
      await writeFile(paths().lockFile, '999999999 1\n');
      await mkdir(`${paths().lockFile}.break`);
      expect(await codeOf(acquire())).toBe('FOREIGN_ENTRY');
      expect(await readFile(paths().lockFile, 'utf8')).toBe('999999999 1\n');
    });

    it('a lock file larger than any lock: refused, not removed', async () => {
      await writeFile(paths().lockFile, 'x'.repeat(10_000));
      expect(await codeOf(acquire())).toBe('TOO_LARGE');
      expect((await readFile(paths().lockFile, 'utf8')).length).toBe(10_000);
    });
  });

  describe('activation entries', () => {
    it('a plain file, a directory or a foreign symlink at NAME.raw is never replaced or removed', async () => {
      const image = join(paths().sysextDir, 'hello.raw');
      for (const plant of [
        () => writeFile(image, 'an admin image\n'),
        () => mkdir(image),
        () => symlink(join(victim, 'file'), image),
      ]) {
        await rm(image, { recursive: true, force: true });
        await plant();
        const before = await snapshot(root);
        expect(await codeOf(activate(paths(), 'sysext', 'hello', '1.0', false))).toBe(
          'FOREIGN_ENTRY',
        );
        expect(await codeOf(deactivate(paths(), 'sysext', 'hello'))).toBe('FOREIGN_ENTRY');
        expect(await snapshot(root)).toEqual(before);
      }
      expect(await readFile(join(victim, 'file'), 'utf8')).toBe('precious\n');
    });

    it('a directory at a sidecar path: FOREIGN_ENTRY', async () => {
      await mkdir(join(paths().sysextDir, 'hello.roothash'));
      expect(await codeOf(activate(paths(), 'sysext', 'hello', '1.0', true))).toBe('FOREIGN_ENTRY');
    });
  });

  describe('partial downloads', () => {
    const part = () => join(paths().partialDir, 'hello_1.0.raw.part');

    it('a symlink, a FIFO: restart from zero, flagged as planted; unlinked, never followed', async () => {
      for (const plant of [
        () => symlink(join(victim, 'file'), part()),
        () => execa('mkfifo', [part()]),
      ]) {
        await plant();
        await writeFile(`${part()}.meta`, JSON.stringify({ url: 'http://x/', size: 8192 }));
        const decision = await resumeDecision(part(), entry, 'http://x/');
        expect(decision).toMatchObject({ from: 0, planted: true });
        await discardPartial(part());
        expect(await snapshot(paths().partialDir)).toEqual({ '.': 'dir 755' });
      }
      expect(await readFile(join(victim, 'file'), 'utf8')).toBe('precious\n');
    });

    it('a record that is /dev/zero is not read forever', async () => {
      await writeFile(part(), Buffer.alloc(4096));
      await symlink('/dev/zero', `${part()}.meta`);
      expect(await resumeDecision(part(), entry, 'http://x/')).toMatchObject({ from: 0 });
    });

    it('a directory at the partial path: FOREIGN_ENTRY, nothing deleted', async () => {
      await mkdir(part());
      await writeFile(join(part(), 'inside'), 'kept\n');
      expect(await codeOf(resumeDecision(part(), entry, 'http://x/'))).toBe('FOREIGN_ENTRY');
      expect(await codeOf(discardPartial(part()))).toBe('FOREIGN_ENTRY');
      expect(await readFile(join(part(), 'inside'), 'utf8')).toBe('kept\n');
    });
  });

  describe('systemError: foreseeable errno errors are coded', () => {
    const errno = (code: string, syscall = 'open', path = '/var/lib/x') =>
      Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

    it.each([
      ['EISDIR', 'IO', 'a directory is where a file was expected'],
      ['ENOTDIR', 'IO', 'a file is where a directory was expected'],
      ['ELOOP', 'IO', 'symbolic link'],
      ['EEXIST', 'IO', 'already there'],
      ['ENOENT', 'IO', 'does not exist'],
      ['ENOSPC', 'NO_SPACE', 'no space left'],
      ['EDQUOT', 'NO_SPACE', 'no space left'],
      ['EACCES', 'PERMISSION', 'permission denied'],
    ])('%s -> %s', (code, expected, words) => {
      const coded = systemError(errno(code));
      expect(coded?.code).toBe(expected);
      expect(coded?.message).toContain(words);
      expect(coded?.message).toContain('/var/lib/x');
    });

    it("Node's own ERR_FS_EISDIR (rm of a directory) and an IO error caused by ENOSPC", () => {
      const rmDir = Object.assign(new Error('Path is a directory: rm returned EISDIR'), {
        code: 'ERR_FS_EISDIR',
        path: '/var/lib/x',
      });
      expect(systemError(rmDir)?.code).toBe('IO');
      const io = new AgentError('IO', 'cannot write /var/lib/x', {
        cause: errno('ENOSPC', 'write'),
      });
      expect(systemError(io)?.code).toBe('NO_SPACE');
    });

    it('a bug (no errno) is left to the caller, a coded error other than IO too', () => {
      expect(systemError(new TypeError('x is undefined'))).toBeNull();
      expect(systemError(new AgentError('HASH_MISMATCH', 'bad'))).toBeNull();
    });
  });
});
