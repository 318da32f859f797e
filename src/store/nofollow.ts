/**
 * Paths the agent keeps its own files at, opened as the agent made them and nothing else
 * (issue 11, classes 2 and 7). Below its state directory the agent only ever makes regular files
 * and real directories, and in the extension directories only symlinks; anything else found
 * there was planted or left by someone else:
 *
 * - a symlink is never followed (O_NOFOLLOW, lstat): a planted `partial/X.part -> /elsewhere`
 *   would otherwise be resumed through and renamed into the store, so the "verified" image would
 *   stay a link to a file its owner can change after verification (promise 1);
 * - a FIFO or a device is never opened for reading or writing without O_NONBLOCK (a FIFO
 *   without a peer blocks open(2) forever; /dev/zero never ends), and never read as a file;
 * - a directory where a file belongs, or a symlink where a directory belongs, is refused with
 *   FOREIGN_ENTRY and left as it is.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { AgentError } from '../errors.ts';

const { O_RDONLY, O_RDWR, O_CREAT, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Flags for a regular file the agent reads or writes: never through a symlink, never blocking. */
export const READ_NOFOLLOW = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
export const RW_NOFOLLOW = O_RDWR | O_NOFOLLOW | O_NONBLOCK;
// Read-write: a download is hashed by reading back what was written (src/hash/job.ts).
export const CREATE_NOFOLLOW = O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK;

/** "a symbolic link", "a directory", ...: what sits at a path, for messages. */
export function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'a device';
  if (info.isFile()) return 'a regular file';
  return 'not a regular file';
}

export function foreign(path: string, kind: string, wanted: string, fix?: string): AgentError {
  return new AgentError(
    'FOREIGN_ENTRY',
    `${path} is ${kind}, not ${wanted} the agent made; left as it is${fix ? `: ${fix}` : ''}`,
  );
}

/** lstat, or null when nothing is there. */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Opens a regular file without following a symlink or blocking on a FIFO, and checks (fstat,
 * on the opened file) that it is one; FOREIGN_ENTRY otherwise. Other errors (ENOENT, ...) are
 * passed on as they are.
 */
export async function openRegular(path: string, flags: number, mode = 0o600): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, flags, mode);
  } catch (err) {
    // ELOOP: a symlink (O_NOFOLLOW); EISDIR, ENXIO (a FIFO without a peer, a socket): name it.
    const info = await lstat(path).catch(() => null);
    if (info && !info.isFile()) throw foreign(path, kindOf(info), 'a regular file');
    throw err;
  }
  const info = await handle.stat().catch(async (err: unknown) => {
    await handle.close();
    throw err;
  });
  if (!info.isFile()) {
    await handle.close();
    throw foreign(path, kindOf(info), 'a regular file');
  }
  return handle;
}

/**
 * The text of a small regular file the agent wrote (a record, a lock), or null when it does not
 * exist; at most `max` bytes are read, so a planted huge file costs no memory. FOREIGN_ENTRY
 * when something else is there; TOO_LARGE when it is longer.
 */
export async function readSmallFile(path: string, max: number): Promise<string | null> {
  let handle: FileHandle;
  try {
    handle = await openRegular(path, READ_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    // Sized by the file (it is regular, so its size is real), not by the bound: a 4 MiB bound
    // for state.json must not cost 4 MiB on every poll. One byte more shows a file that grew.
    const { size } = await handle.stat();
    let buffer = Buffer.alloc(Math.min(size, max) + 1);
    let total = 0;
    for (;;) {
      // Full but within the bound: the file grew since the stat; read on up to the bound.
      if (total === buffer.length) buffer = Buffer.concat([buffer], max + 1);
      const { bytesRead } = await handle.read(buffer, total, buffer.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max)
        throw new AgentError(
          'TOO_LARGE',
          `${path} is larger than ${max} bytes: not a file the agent wrote`,
        );
    }
    return buffer.subarray(0, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Makes `dir` (and its parents) if needed and checks that `dir` itself is a real directory, not
 * a symlink to one elsewhere: the agent's own directories below its state directory are never
 * links, so a planted `images/NAME -> /elsewhere` is not written through. (The state directory
 * itself may be a link or a mount an administrator made to keep the store on another disk.)
 */
export async function ownDir(dir: string, mode?: number): Promise<void> {
  await mkdir(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) }).catch(
    (err: unknown) => {
      // EEXIST/ENOTDIR: a file is in the way (of `dir` or a parent): the lstat below names it.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    },
  );
  await checkOwnDir(dir, true);
}

/**
 * True when `dir` is a real directory, false when nothing is there (unless `required`);
 * FOREIGN_ENTRY when a symlink or a file sits there.
 */
export async function checkOwnDir(dir: string, required = false): Promise<boolean> {
  let info: Stats | null;
  try {
    info = await lstatOrNull(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    throw new AgentError(
      'FOREIGN_ENTRY',
      `${dir}: a parent directory of it is a file; left as it is`,
      {
        cause: err,
      },
    );
  }
  if (info?.isDirectory()) return true;
  if (info)
    throw foreign(
      dir,
      kindOf(info),
      'a directory',
      info.isSymbolicLink()
        ? 'the agent does not write through links below its state directory (to keep the store on another disk, mount or link the state directory itself)'
        : 'move it away',
    );
  if (required) throw foreign(dir, 'missing', 'a directory');
  return false;
}

/**
 * Unlinks what is at `path` when it is not a directory (a planted symlink goes, what it points
 * at stays); a directory is refused (FOREIGN_ENTRY), never deleted recursively. Nothing there:
 * nothing to do.
 */
export async function unlinkEntry(path: string, wanted: string): Promise<void> {
  const info = await lstatOrNull(path);
  if (info?.isDirectory()) throw foreign(path, 'a directory', wanted, 'move it away and run again');
  if (info) await rm(path, { force: true });
}
