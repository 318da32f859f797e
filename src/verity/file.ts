/**
 * dm-verity of an image file, on every core: the leaf digests are computed by the hashing
 * threads (src/hash/) reading the file, the calling thread taking a share too; memory is level 0
 * (32 bytes per 4 KiB data block), never the image.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { AgentError, isAgentError } from '../errors.ts';
import { FileHashJob } from '../hash/job.ts';
import { completeTree } from './levels.ts';
import { checkImageSize, checkVerityParams, parseUuid, VerityTreeBuilder } from './tree.ts';
import type { VerityParams, VerityResult } from './tree.ts';

/** veritysetup's default salt size (cryptsetup DEFAULT_VERITY_SALT_SIZE: 32 bytes for sha256). */
const DEFAULT_SALT_SIZE = 32;
const READ_CHUNK = 1024 * 1024;

/** `threads` overrides the number of hashing threads (tests; see src/hash/job.ts). */
export async function verityOfFile(
  path: string,
  params: VerityParams,
  threads?: number,
): Promise<VerityResult> {
  checkVerityParams(params);
  const uuid = parseUuid(params.uuid);
  let file: FileHandle | undefined;
  try {
    file = await open(path, 'r');
    const info = await file.stat();
    // A block device (or a pipe) has no size to split among threads: read it through in order.
    if (!info.isFile()) return await streamTree(file, params);
    const { size } = info;
    checkImageSize(size);
    const job = new FileHashJob(file.fd, size, path, {
      salt: params.salt,
      sha: false,
      mainShare: true,
      ...(threads === undefined ? {} : { threads }),
    });
    job.publish(size);
    const { tree, dataBlocks } = await job.finish();
    return completeTree(tree, dataBlocks, Buffer.from(params.salt), uuid);
  } catch (err) {
    if (isAgentError(err)) throw err;
    throw new AgentError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await file?.close();
  }
}

async function streamTree(file: FileHandle, params: VerityParams): Promise<VerityResult> {
  const builder = new VerityTreeBuilder(params);
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  for (;;) {
    const { bytesRead } = await file.read(buffer, 0, READ_CHUNK, null);
    if (bytesRead === 0) return builder.digest();
    builder.update(buffer.subarray(0, bytesRead));
  }
}

/** A fresh salt and UUID, as `veritysetup format` picks when neither is given. */
export function randomVerityParams(): { salt: Buffer; uuid: string } {
  return { salt: randomBytes(DEFAULT_SALT_SIZE), uuid: randomUUID() };
}
