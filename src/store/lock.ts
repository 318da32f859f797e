/**
 * One instance at a time (PRODUCT.md exit code 75). The lock file names its holder by PID and
 * process start time (/proc/PID/stat field 22), so a lock left by a killed agent is taken over
 * at once instead of after a timeout, and a reused PID is not mistaken for the holder.
 * Time-based stale detection (mtime, as proper-lockfile does) would make every run after a
 * crash wait out the stale interval, which recovery at boot cannot afford.
 *
 * Acquisition links a fully written temp file to the lock path: link(2) fails with EEXIST if
 * the lock exists, so the lock file is never seen half written (an empty one can only be a
 * leftover of a power loss, and counts as stale).
 *
 * The lock path holds a regular file this agent linked there, or nothing: a directory, a FIFO
 * or a symlink there (to /dev/zero, say) was put there by someone else and is refused
 * (FOREIGN_ENTRY), never read through, waited on or removed; its content is read at most
 * LOCK_MAX bytes.
 */
import { readFileSync } from 'node:fs';
import { link, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AgentError } from '../errors.ts';
import { tempPathFor } from './atomic.ts';
import { foreign, kindOf, lstatOrNull, readSmallFile } from './nofollow.ts';

/** "PID STARTTIME\n": a lock longer than this was not written by an agent. */
const LOCK_MAX = 256;

/**
 * The content of a lock file; '' when gone or unreadable. A longer file or something else than a
 * file there is not a lock (TOO_LARGE, FOREIGN_ENTRY): never taken over, never removed.
 */
async function readLock(file: string): Promise<string> {
  try {
    return (await readSmallFile(file, LOCK_MAX)) ?? '';
  } catch (err) {
    if (err instanceof AgentError && err.code !== 'IO') throw err;
    return '';
  }
}

/** The inode of the lock file at `file`, null when none is there; FOREIGN_ENTRY for anything else. */
async function lockInode(file: string): Promise<number | null> {
  const info = await lstatOrNull(file);
  if (info && !info.isFile())
    throw foreign(file, kindOf(info), 'a lock file', 'remove it, after making sure no agent runs');
  return info?.ino ?? null;
}

/** mkdir -p of the lock's directory, with a file in the way named (not an errno). */
async function makeDir(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    throw new AgentError(
      'FOREIGN_ENTRY',
      `cannot make the directory ${dir} for the lock: a file is in the way (${code}); left as it is`,
      { cause: err },
    );
  }
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22, i.e. index 19 after the paren.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Why the lock with this content is stale (its holder is gone), or null while it lives. */
function staleReason(content: string): string | null {
  // A live holder's lock is never empty (it is linked fully written), so an empty one is a
  // leftover of a power loss, as stale as one naming a dead process.
  if (content.trim() === '') return 'the lock file is empty (left by a power loss)';
  const [pid, start] = content.trim().split(' ');
  if (!pid || !/^\d+$/.test(pid)) return 'the lock file names no process';
  const actual = startTimeOf(Number(pid));
  if (actual === null) return `pid ${pid} is no longer running`;
  if (actual !== start) return `pid ${pid} is another process now (the holder's PID was reused)`;
  return null;
}

function holderAlive(content: string): boolean {
  return staleReason(content) === null;
}

function pidOf(content: string): string {
  return content.trim().split(' ')[0] || '?';
}

/** 600000 -> "10m", 90000 -> "1m30s", 1500 -> "1.5s": for messages. */
export function describeMs(ms: number): string {
  if (ms < 10_000) return `${Math.round(ms / 100) / 10}s`;
  const s = Math.round(ms / 1000);
  const parts = [
    [Math.floor(s / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join('');
}

export type LockLog = Pick<Logger, 'info' | 'warn'>;

export interface AcquireOptions {
  /** How long to wait for a live holder; 0: refuse at once (LOCKED, exit 75). */
  waitMs: number;
  pollMs?: number;
  /** While waiting, a line every this often (default 30 s), after the first one. */
  reportEveryMs?: number;
  log?: LockLog;
}

export class HostLock {
  readonly file: string;
  private readonly token: string;
  /** The first directory acquire() had to create, removed again on release when left empty. */
  private readonly created: string | undefined;
  private released = false;

  private constructor(file: string, token: string, created: string | undefined) {
    this.file = file;
    this.token = token;
    this.created = created;
  }

  static async acquire(file: string, opts: AcquireOptions): Promise<HostLock> {
    let created = await makeDir(dirname(file));
    const token = `${process.pid} ${startTimeOf(process.pid) ?? '0'}\n`;
    // Monotonic: a clock step while waiting neither ends the wait early nor stretches it.
    let waitStarted: number | undefined;
    let lastReport = 0;
    for (;;) {
      const linked = await tryLink(file, token);
      if (linked === 'no-dir') {
        // The holder we waited for removed the directory it had created (nothing else was in
        // it): make it again, and remove it on release if this run leaves it empty too.
        created = (await makeDir(dirname(file))) ?? created;
        continue;
      }
      if (linked) return new HostLock(file, token, created);
      const ino = await lockInode(file);
      const holder = await readLock(file);
      if (ino === null) continue;
      const stale = staleReason(holder);
      if (stale !== null) {
        if (await breakStale(file, ino, token))
          opts.log?.warn(
            { lock: file, pid: pidOf(holder) },
            `took over the lock ${file}: ${stale}`,
          );
        continue;
      }
      const pid = pidOf(holder);
      const now = performance.now();
      if (opts.waitMs <= 0)
        throw new AgentError(
          'LOCKED',
          `another sysext-agent (pid ${pid}) holds ${file}; nothing done (--wait waits for it)`,
        );
      if (waitStarted === undefined) {
        waitStarted = lastReport = now;
        opts.log?.warn(
          { lock: file, pid },
          `another sysext-agent (pid ${pid}) holds ${file}; waiting for it, at most ${describeMs(opts.waitMs)}`,
        );
      }
      const waited = now - waitStarted;
      if (waited >= opts.waitMs)
        throw new AgentError(
          'LOCKED',
          `another sysext-agent (pid ${pid}) still holds ${file} after waiting ${describeMs(waited)}; nothing done`,
        );
      if (now - lastReport >= (opts.reportEveryMs ?? 30_000)) {
        lastReport = now;
        opts.log?.info(
          { lock: file, pid },
          `still waiting for sysext-agent pid ${pid} to release ${file} (${describeMs(waited)} of at most ${describeMs(opts.waitMs)})`,
        );
      }
      await sleep(Math.max(1, Math.min(opts.pollMs ?? 200, opts.waitMs - waited)));
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const content = await readLock(this.file).catch(() => '');
    if (content === this.token) await rm(this.file, { force: true });
    if (this.created) await removeEmptyDirs(dirname(this.file), this.created);
  }
}

/** True: the lock is ours; false: someone holds it; 'no-dir': its directory is gone. */
async function tryLink(file: string, token: string): Promise<boolean | 'no-dir'> {
  const tmp = tempPathFor(file);
  try {
    await writeFile(tmp, token, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'no-dir';
    throw err;
  }
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AgentError('IO', `cannot create lock ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Removes a dead holder's lock; true when this call removed it (the one to log the takeover). Breakers take turns through a second lock (`lock.break`), and
 * the one whose turn it is unlinks the lock only if it is still stale: while a stale lock
 * exists nobody else can create one, so nothing live is ever removed. (Moving the
 * lock aside instead lets three racing breakers end with two holders.) A breaker that died
 * holding `lock.break` is itself taken over when its process is gone.
 */
async function breakStale(file: string, staleIno: number, token: string): Promise<boolean> {
  const guard = `${file}.break`;
  const turn = await tryLink(guard, token);
  if (turn !== true) {
    // A directory there would make every breaker wait for a turn that never comes.
    await lockInode(guard);
    const breaker = await readSmallFile(guard, LOCK_MAX).catch(() => null);
    if (breaker !== null && !holderAlive(breaker)) await rm(guard, { force: true });
    else await sleep(20);
    return false;
  }
  try {
    // Check again under the guard: the lock may have been broken and retaken since we looked,
    // and a new lock can even reuse the freed inode number, so the holder is checked too.
    const current = await lstatOrNull(file).catch(() => null);
    const holder = await readSmallFile(file, LOCK_MAX).catch(() => null);
    if (current?.isFile() && current.ino === staleIno && holder !== null && !holderAlive(holder)) {
      await rm(file, { force: true });
      return true;
    }
    return false;
  } finally {
    await rm(guard, { force: true });
  }
}

/** A run that changed nothing leaves no trace, not even the directories the lock needed. */
async function removeEmptyDirs(from: string, upTo: string): Promise<void> {
  for (let dir = from; dir.startsWith(upTo); dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    if (dir === upTo) return;
  }
}
