/**
 * The two digests an image is checked against while it downloads: SHA-256 of the bytes and the
 * dm-verity tree (PRODUCT.md promise 1: size, SHA-256 and root hash must match the manifest).
 * Both are computed on the hashing threads (src/hash/) from the partial file as each write lands,
 * so what is verified is what is on disk.
 */
import { AgentError } from '../errors.ts';
import { FileHashJob } from '../hash/job.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { completeTree } from '../verity/levels.ts';
import { checkImageSize } from '../verity/tree.ts';

/** Starts hashing the file open at `fd` (read-write) that will hold `entry`'s bytes. */
export function hashImageFile(entry: ImageEntry, fd: number): FileHashJob {
  return new FileHashJob(fd, entry.size, `the download of ${entry.path}`, {
    salt: Buffer.from(entry.verity.salt, 'hex'),
    sha: true,
  });
}

/**
 * Checks `size` bytes against the manifest entry once they are all published to `job`; on a
 * wrong size the job is stopped. The file must stay open until this returns.
 */
export async function verifyImage(
  entry: ImageEntry,
  job: FileHashJob,
  size: number,
): Promise<{ hashFile: Buffer; rootHash: string }> {
  const where = `image ${entry.path}`;
  if (size !== entry.size) {
    await job.abort();
    throw new AgentError('SIZE_MISMATCH', `${where}: ${size} bytes, manifest says ${entry.size}`);
  }
  const digests = await job.finish();
  if (digests.sha256 !== entry.sha256) {
    throw new AgentError(
      'HASH_MISMATCH',
      `${where}: SHA-256 ${digests.sha256} does not match the manifest ${entry.sha256}`,
    );
  }
  checkImageSize(size);
  const { salt, uuid } = entry.verity;
  const tree = completeTree(digests.tree, digests.dataBlocks, Buffer.from(salt, 'hex'), uuid);
  if (tree.rootHash !== entry.verity.rootHash) {
    throw new AgentError(
      'VERITY_MISMATCH',
      `${where}: dm-verity root hash ${tree.rootHash} does not match the manifest ${entry.verity.rootHash}`,
    );
  }
  return { hashFile: tree.hashFile, rootHash: tree.rootHash };
}
