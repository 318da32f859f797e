/**
 * dm-verity of an image file: streams the file through VerityTreeBuilder, so memory stays
 * proportional to the hash tree (32 bytes per 4 KiB data block), never to the image.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { AgentError, isAgentError } from '../errors.ts';
import { VerityTreeBuilder } from './tree.ts';
import type { VerityParams, VerityResult } from './tree.ts';

/** Large reads keep the per-read overhead negligible next to hashing. */
const READ_CHUNK = 1024 * 1024;
/** veritysetup's default salt size (cryptsetup DEFAULT_VERITY_SALT_SIZE: 32 bytes for sha256). */
const DEFAULT_SALT_SIZE = 32;

export async function verityOfFile(path: string, params: VerityParams): Promise<VerityResult> {
  const builder = new VerityTreeBuilder(params);
  let file: FileHandle | undefined;
  try {
    file = await open(path, 'r');
    await feed(file, builder);
  } catch (err) {
    if (isAgentError(err)) throw err;
    throw new AgentError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await file?.close();
  }
  return builder.digest();
}

/**
 * Two buffers, reused: the next read runs in the thread pool while this one is hashed. Fresh
 * buffers per chunk (fs.createReadStream) measured twice as slow on a cold process, mostly in
 * page faults on newly allocated memory.
 */
async function feed(file: FileHandle, builder: VerityTreeBuilder): Promise<void> {
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)] as const;
  let position = 0;
  let next = file.read(buffers[0], 0, READ_CHUNK, position);
  for (let i = 0; ; i ^= 1) {
    const { bytesRead, buffer } = await next;
    if (bytesRead === 0) return;
    position += bytesRead;
    next = file.read(buffers[i ^ 1]!, 0, READ_CHUNK, position);
    builder.update(buffer.subarray(0, bytesRead));
  }
}

/** A fresh salt and UUID, as `veritysetup format` picks when neither is given. */
export function randomVerityParams(): { salt: Buffer; uuid: string } {
  return { salt: randomBytes(DEFAULT_SALT_SIZE), uuid: randomUUID() };
}
