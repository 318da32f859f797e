/** Fails early, before a byte is downloaded, when the store's file system cannot take an image. */
import { statfs } from 'node:fs/promises';
import { AgentError } from '../errors.ts';

const MARGIN = 1 << 20;

/** The dm-verity hash file for `size` bytes: a superblock block plus every tree level, rounded up. */
export function hashTreeBytes(size: number): number {
  let blocks = Math.ceil(size / 4096);
  let total = 4096;
  while (blocks > 1) {
    blocks = Math.ceil(blocks / 128);
    total += blocks * 4096;
  }
  return total;
}

export async function ensureSpace(dir: string, needed: number, what: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed + MARGIN) {
    throw new AgentError(
      'NO_SPACE',
      `not enough free space for ${what}: ${needed} bytes needed (+1 MiB margin), ${free} free on the file system of ${dir}`,
    );
  }
}
