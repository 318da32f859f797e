/**
 * A fingerprint of the files a plan reads: one line per path, walked recursively through
 * directories, from lstat(2) alone (no file is opened). It is compared, never interpreted: any
 * difference means "something changed, run the whole agent".
 *
 * Each line has the inode's change time (ctime). The kernel sets it on every write, rename,
 * chmod, chown or link count change, and no system call sets it back (utimensat(2) sets atime
 * and mtime only), so an edit that keeps the size and the mtime still shows; an atomic
 * replacement also shows as a new inode. A directory's line leaves its times out: its entries
 * are listed below it, so an entry added, removed or renamed shows there, while the lock
 * taken and released in the state directory by every run (left out by name) does not.
 * Synchronous calls: a poll makes a few dozen, in order, and each awaited
 * call would cost a round trip through libuv's thread pool.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** More lines than this is not a host a poll can afford to compare: no fingerprint. */
export const MAX_LINES = 4096;

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

function kind(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  return 'o';
}

function walk(path: string, skip: ReadonlySet<string>, out: string[]): void {
  if (out.length > MAX_LINES) throw new RangeError(`more than ${MAX_LINES} entries`);
  let st;
  try {
    st = lstatSync(path, { bigint: true });
  } catch (err) {
    // Absent is a state like any other: a file appearing later is a change.
    out.push(`${path} ${errno(err)}`);
    return;
  }
  const type = kind(st);
  const owner = `${path} ${type} ${st.mode} ${st.uid}:${st.gid} ${st.dev}:${st.ino}`;
  if (type !== 'd') {
    const target = type === 'l' ? ` -> ${readlinkSync(path)}` : '';
    out.push(`${owner} ${st.size} ${st.mtimeNs} ${st.ctimeNs}${target}`);
    return;
  }
  out.push(owner);
  for (const name of readdirSync(path).sort()) {
    const child = join(path, name);
    if (!skip.has(child)) walk(child, skip, out);
  }
}

/**
 * The lines for `paths` (each walked recursively), leaving out the paths in `skip` (the lock
 * file: held while the record is written, absent when it is read). RangeError past MAX_LINES.
 */
export function fingerprint(paths: readonly string[], skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const skipped = new Set(skip);
  for (const p of paths) walk(p, skipped, out);
  return out;
}

/** The first line that differs, for the log; null when the two are the same. */
export function firstDifference(a: readonly string[], b: readonly string[]): string | null {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return (b[i] ?? a[i] ?? '').split(' ')[0] ?? '';
  }
  return null;
}
