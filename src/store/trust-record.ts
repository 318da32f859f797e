/**
 * `/var/lib/sysext-agent/trust.json`: the key set accepted through rotation (PRODUCT.md
 * section 3.2). Read as a regular file only (never through a symlink, never a FIFO that would
 * hang the run, never more than a small bound) and validated; written atomically.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { parseTrustRecord, serializeTrustRecord, type TrustRecord } from '../manifest/rotation.ts';
import { writeFileAtomic } from './atomic.ts';

/** A record holds a few hundred keys at most: far below this. */
const RECORD_MAX_BYTES = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function corrupt(file: string, why: string, cause?: unknown): AgentError {
  return new AgentError(
    'STATE_CORRUPT',
    `${file}: ${why}; delete it to start the key rotation walk again from the trust store`,
    { cause },
  );
}

/** The record, or null when there is none yet (no rotation accepted on this host). */
export async function readTrustRecord(paths: HostPaths): Promise<TrustRecord | null> {
  const file = paths.trustFile;
  let handle;
  try {
    handle = await open(file, READ_FLAGS);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') return null;
    if (errno === 'ELOOP') throw corrupt(file, 'is a symbolic link, not a file the agent wrote');
    if (errno === 'EACCES' || errno === 'EPERM') throw err;
    throw corrupt(file, `cannot be read (${errno ?? String(err)})`, err);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw corrupt(file, 'is not a regular file');
    if (info.size > RECORD_MAX_BYTES) throw corrupt(file, `is ${info.size} bytes, too large`);
    const text = await handle.readFile('utf8');
    return parseTrustRecord(text, file);
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw corrupt(file, `cannot be read (${(err as Error).message})`, err);
  } finally {
    await handle.close();
  }
}

export async function writeTrustRecord(paths: HostPaths, record: TrustRecord): Promise<void> {
  await writeFileAtomic(paths.trustFile, serializeTrustRecord(record), 0o644);
}
