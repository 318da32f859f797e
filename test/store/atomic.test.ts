// Durable file-system primitives (src/store/atomic.ts): atomic replace, no temp files left.
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  removeDurable,
  renameDurable,
  switchSymlink,
  tempPathFor,
  writeFileAtomic,
} from '../../src/store/atomic.ts';

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sysext-agent-atomic-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tempPathFor', () => {
  it('is a hidden sibling, unique per call', () => {
    const target = join(dir, 'state.json');
    const a = tempPathFor(target);
    const b = tempPathFor(target);
    expect(a).not.toBe(b);
    expect(a.startsWith(join(dir, '.state.json.'))).toBe(true);
    expect(a.endsWith('.tmp')).toBe(true);
  });
});

describe('writeFileAtomic', () => {
  it('creates a file, then replaces its content, leaving no temp files', async () => {
    const file = join(dir, 'state.json');
    await writeFileAtomic(file, '{"v":1}\n');
    expect(await readFile(file, 'utf8')).toBe('{"v":1}\n');
    await writeFileAtomic(file, new Uint8Array([0x7b, 0x7d]));
    expect(await readFile(file, 'utf8')).toBe('{}');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('replaces the inode (rename), so an open reader keeps the old bytes', async () => {
    const file = join(dir, 'f');
    await writeFile(file, 'old');
    const before = (await stat(file)).ino;
    await writeFileAtomic(file, 'new');
    expect((await stat(file)).ino).not.toBe(before);
    expect(await readFile(file, 'utf8')).toBe('new');
  });

  it('creates missing parent directories', async () => {
    const file = join(dir, 'a', 'b', 'c.txt');
    await writeFileAtomic(file, 'x');
    expect(await readFile(file, 'utf8')).toBe('x');
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['c.txt']);
  });

  it('applies the requested mode (masked by the umask only)', async () => {
    const file = join(dir, 'secret.key');
    await writeFileAtomic(file, 'k', 0o600);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('a failed rename (target is a directory) leaves the directory intact and no temp file', async () => {
    const target = join(dir, 'busy');
    await mkdir(join(target, 'child'), { recursive: true });
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow();
    expect((await stat(target)).isDirectory()).toBe(true);
    expect(await readdir(dir)).toEqual(['busy']);
  });
});

describe('renameDurable', () => {
  it('moves a file over another one', async () => {
    await writeFile(join(dir, 'a'), 'A');
    await writeFile(join(dir, 'b'), 'B');
    await renameDurable(join(dir, 'a'), join(dir, 'b'));
    expect(await readFile(join(dir, 'b'), 'utf8')).toBe('A');
    expect(await readdir(dir)).toEqual(['b']);
  });
});

describe('switchSymlink', () => {
  it('creates a symlink where there was none', async () => {
    const link = join(dir, 'ext', 'hello.raw');
    await switchSymlink(link, '/var/lib/sysext-agent/images/hello/hello_1.raw');
    expect(await readlink(link)).toBe('/var/lib/sysext-agent/images/hello/hello_1.raw');
    expect(await readdir(join(dir, 'ext'))).toEqual(['hello.raw']);
  });

  it('replaces an existing symlink: readlink gives the new target, no temp entries left', async () => {
    const link = join(dir, 'hello.raw');
    await symlink('images/hello_1.raw', link);
    await switchSymlink(link, 'images/hello_2.raw');
    expect(await readlink(link)).toBe('images/hello_2.raw');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readdir(dir)).toEqual(['hello.raw']);
    await switchSymlink(link, 'images/hello_3.raw');
    expect(await readlink(link)).toBe('images/hello_3.raw');
    expect(await readdir(dir)).toEqual(['hello.raw']);
  });

  it('a link to a dangling target is fine (the link itself is what switches)', async () => {
    const link = join(dir, 'l');
    await switchSymlink(link, join(dir, 'does-not-exist'));
    expect(await readlink(link)).toBe(join(dir, 'does-not-exist'));
  });

  it('never leaves the link path missing while switching many times', async () => {
    const link = join(dir, 'cur');
    await switchSymlink(link, 't0');
    let missing = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        try {
          await readlink(link);
        } catch {
          missing++;
        }
      }
    })();
    for (let i = 1; i <= 30; i++) await switchSymlink(link, `t${i}`);
    stop = true;
    await watcher;
    expect(missing).toBe(0);
    expect(await readlink(link)).toBe('t30');
    expect(await readdir(dir)).toEqual(['cur']);
  });
});

describe('removeDurable', () => {
  it('removes a file', async () => {
    const file = join(dir, 'x');
    await writeFile(file, 'x');
    await removeDurable(file);
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes a symlink, not its target', async () => {
    await writeFile(join(dir, 'target'), 't');
    await symlink('target', join(dir, 'link'));
    await removeDurable(join(dir, 'link'));
    expect(await readdir(dir)).toEqual(['target']);
  });

  it('a missing file is fine, also in a missing directory', async () => {
    await expect(removeDurable(join(dir, 'absent'))).resolves.toBeUndefined();
    await expect(removeDurable(join(dir, 'no', 'such', 'file'))).resolves.toBeUndefined();
  });

  it('a directory is an error, and stays', async () => {
    await mkdir(join(dir, 'd'));
    await expect(removeDurable(join(dir, 'd'))).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['d']);
  });
});
