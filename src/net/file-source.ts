/**
 * A repository in a local directory (PRODUCT.md section 4: a USB stick, mounted media, an
 * air-gapped mirror): the same port as the HTTP source and the same verification, no network.
 *
 * - The manifest is read capped at `maxBytes` (TOO_LARGE from its size, before reading it). Its
 *   validator is the SHA-256 of its bytes, kept in `etag`: a poll of an unchanged file answers
 *   304 like HTTP. A digest rather than size/mtime/inode, because FAT (most USB sticks) keeps
 *   mtime to 2 seconds and a re-signed manifest often has the same size: a stat validator could
 *   answer 304 to a new manifest, and that host would silently never update.
 * - An image is copied into `partial` while size, SHA-256 and the dm-verity tree are computed,
 *   exactly the checks of an HTTP download (image-hash.ts: read back from the copy on the
 *   hashing threads), in 1 MiB chunks through two buffers (the next read overlaps the write);
 *   the copy is fsynced; bad bytes discard it. There is no resume: a copy starts from zero, and a
 *   partial left by an HTTP download of the same version is discarded, never appended to.
 * - Only regular files are read, never through a symlink (O_NOFOLLOW) and never a FIFO or a
 *   device: a symlink on the medium cannot make a root process read host files. The directories
 *   leading to the repository may be symlinks (/media/usb); image paths are safe relative paths
 *   (manifest schema), so they stay below it.
 * - A file that cannot be read (medium not mounted, ENOENT, EIO) is NETWORK: the repository is
 *   unreachable, the next mirror is tried, as for a server that is down.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import type { DocumentResult } from './document.ts';
import type { Validators } from './validators.ts';
import type { VerifiedDownload } from './download.ts';
import type { FileHashJob } from '../hash/job.ts';
import { hashImageFile, verifyImage } from './image-hash.ts';
import { discardPartial } from './partial.ts';
import type { Progress } from './receive.ts';
import type { RepositorySource } from './source.ts';

/** One buffer of this size for the whole copy: memory stays flat in the image size. */
const CHUNK = 1 << 20;
/** Reads of the manifest (at most `maxBytes`, 1 MiB, kept whole anyway). */
const DOC_CHUNK = 64 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

type What = 'manifest' | 'image';

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** "ENOENT: no such file or directory", without Node's ", open '/path'" tail (we name it). */
function reasonOf(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  return /^([A-Z0-9_]+: [^,]+)/.exec(message)?.[1] ?? message;
}

function pathOf(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new AgentError('CONFIG', `${url}: not a local path: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function unreadable(path: string, err: unknown, what: What): Promise<AgentError> {
  let hint = '';
  if (errnoOf(err) === 'ENOENT' && what === 'manifest') {
    const dir = dirname(path);
    const present = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!present) hint = ` (the directory ${dir} is not there: is the medium mounted?)`;
  }
  return new AgentError('NETWORK', `cannot read ${path}: ${reasonOf(err)}${hint}`, {
    cause: err,
  });
}

function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

function refused(path: string, what: What, kind: string): AgentError {
  return new AgentError(
    what === 'manifest' ? 'MANIFEST_FORMAT' : 'BAD_IMAGE',
    `refusing ${path}: ${kind}; the ${what} of a local repository must be a regular file`,
  );
}

/** Opens a regular file of the repository for reading: never through a symlink, never a FIFO. */
async function openRegular(
  path: string,
  what: What,
): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (err) {
    // ELOOP for a symlink (O_NOFOLLOW), ENXIO for a socket: say what is there instead.
    const info = await lstat(path).catch(() => null);
    if (info && !info.isFile()) throw refused(path, what, kindOf(info));
    throw await unreadable(path, err, what);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refused(path, what, kindOf(info));
    return { handle, size: info.size };
  } catch (err) {
    await handle.close();
    throw err instanceof AgentError ? err : await unreadable(path, err, what);
  }
}

/** The validator of a manifest's bytes: a strong ETag, as an HTTP server would send one. */
export function contentTag(bytes: Buffer): string {
  return `"sha256-${createHash('sha256').update(bytes).digest('hex')}"`;
}

async function fetchDocument(
  url: string,
  maxBytes: number,
  validators?: Validators,
): Promise<DocumentResult> {
  const path = pathOf(url);
  const { handle, size } = await openRegular(path, 'manifest');
  const tooLarge = (n: string) =>
    new AgentError('TOO_LARGE', `${path}: ${n} exceeds the limit of ${maxBytes} bytes`);
  let bytes: Buffer;
  try {
    if (size > maxBytes) throw tooLarge(`${size} bytes`);
    // Read to the end, not to the size seen: a file that grew since is still capped.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(DOC_CHUNK, maxBytes + 1 - total));
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, total));
      } catch (err) {
        throw await unreadable(path, err, 'manifest');
      }
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge('the file');
      chunks.push(buffer.subarray(0, bytesRead));
    }
    bytes = Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
  const etag = contentTag(bytes);
  if (validators?.etag === etag) return { status: 304 };
  return { status: 200, bytes, validators: { etag } };
}

async function writeAll(out: FileHandle, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await out.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Copies `src` into `out` and publishes each landed write to `job`; two buffers, so the next
 * read runs while this chunk is written. Returns the bytes copied.
 */
async function copyPublishing(
  src: FileHandle,
  out: FileHandle,
  path: string,
  partial: string,
  entry: ImageEntry,
  job: FileHashJob,
  progress?: Progress,
): Promise<number> {
  const size = Math.min(CHUNK, entry.size);
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
  const readAt = (i: number, pos: number): Promise<number> => {
    const read = src.read(buffers[i]!, 0, Math.min(size, entry.size - pos), pos).then(
      (r) => r.bytesRead,
      async (err: unknown) => {
        throw await unreadable(path, err, 'image');
      },
    );
    // Handled here too: it may fail while the write before it is still running.
    read.catch(() => undefined);
    return read;
  };
  let pos = 0;
  let next = entry.size > 0 ? readAt(0, 0) : Promise.resolve(0);
  for (let i = 0; ; i ^= 1) {
    const bytesRead = await next;
    // Shorter than it was a moment ago: verifyImage reports the size.
    if (bytesRead === 0) return pos;
    const end = pos + bytesRead;
    next = end < entry.size ? readAt(i ^ 1, end) : Promise.resolve(0);
    await writeAll(out, buffers[i]!.subarray(0, bytesRead), pos).catch(async (err: unknown) => {
      await next.catch(() => undefined);
      throw new AgentError('IO', `cannot write ${partial}: ${reasonOf(err)}`, { cause: err });
    });
    job.publish(end);
    pos = end;
    progress?.(pos, entry.size);
  }
}

async function copyVerified(
  url: string,
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
): Promise<VerifiedDownload> {
  const path = pathOf(url);
  const { handle: src, size } = await openRegular(path, 'image');
  try {
    if (size !== entry.size) {
      throw new AgentError(
        'SIZE_MISMATCH',
        `image ${entry.path}: ${path} has ${size} bytes, manifest says ${entry.size}`,
      );
    }
    // No resume from a local file, and a partial of an HTTP download is never appended to.
    await discardPartial(partial);
    await mkdir(dirname(partial), { recursive: true, mode: 0o700 });
    try {
      const out = await open(partial, 'w+', 0o600);
      // The hashing threads read the copy through `out`: it is closed only after they stopped.
      const job = hashImageFile(entry, out.fd);
      try {
        const copied = await copyPublishing(src, out, path, partial, entry, job, progress);
        await out.sync();
        return { ...(await verifyImage(entry, job, copied)), sourceUrl: url, received: copied };
      } catch (err) {
        await job.abort();
        throw err;
      } finally {
        await out.close();
      }
    } catch (err) {
      // Bad bytes, a cut read or a full disk: nothing here is worth keeping.
      await discardPartial(partial);
      throw err instanceof AgentError
        ? err
        : new AgentError('IO', `cannot write ${partial}: ${reasonOf(err)}`, { cause: err });
    }
  } finally {
    await src.close();
  }
}

async function downloadImage(
  urls: readonly string[],
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
): Promise<VerifiedDownload> {
  let lastError: unknown = new AgentError(
    'CONFIG',
    `image ${entry.path}: no repository to copy from`,
  );
  for (const url of urls) {
    try {
      return await copyVerified(url, entry, partial, progress);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** The source for `file:` URLs. It holds nothing open between calls. */
export function createFileSource(): RepositorySource {
  return { fetchDocument, downloadImage, close: async () => undefined };
}
