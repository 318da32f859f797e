/**
 * Durable file-system primitives (the disk discipline of the design guide): write a temp file
 * on the same file system, fsync it, rename it over the target, fsync the directory, so that
 * after a power loss the path holds either the old or the new bytes, never a torn mix.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, symlink, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempName } from './layout.ts';

export function tempPathFor(path: string): string {
  return join(dirname(path), tempName(path, process.pid, randomBytes(4).toString('hex')));
}

/** fsync(2) on a file or a directory (a directory's fsync makes renames in it durable). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const fsyncDir = fsyncPath;
export const fsyncFile = fsyncPath;

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await renameDurable(tmp, path);
}

/** rename(2) is atomic within one file system; the directory fsync makes it durable. */
export async function renameDurable(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    await rm(from, { force: true });
    throw err;
  }
  await fsyncDir(dirname(to));
}

/** Points `linkPath` at `target` in one step: new symlink under a temp name, renamed over. */
export async function switchSymlink(linkPath: string, target: string): Promise<void> {
  await mkdir(dirname(linkPath), { recursive: true });
  const tmp = tempPathFor(linkPath);
  await symlink(target, tmp);
  await renameDurable(tmp, linkPath);
}

export async function removeDurable(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fsyncDir(dirname(path));
}
