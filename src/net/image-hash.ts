/**
 * The two digests an image is checked against while it streams: SHA-256 of the bytes and the
 * dm-verity tree (PRODUCT.md promise 1: size, SHA-256 and root hash must match the manifest).
 */
import { createHash, type Hash } from 'node:crypto';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { VerityTreeBuilder } from '../verity/tree.ts';

export interface Hashers {
  sha: Hash;
  tree: VerityTreeBuilder;
}

export function newHashers(entry: ImageEntry): Hashers {
  const { salt, uuid } = entry.verity;
  return {
    sha: createHash('sha256'),
    tree: new VerityTreeBuilder({ salt: Buffer.from(salt, 'hex'), uuid }),
  };
}

export function verifyImage(
  entry: ImageEntry,
  h: Hashers,
  size: number,
): { hashFile: Buffer; rootHash: string } {
  const where = `image ${entry.path}`;
  if (size !== entry.size)
    throw new AgentError('SIZE_MISMATCH', `${where}: ${size} bytes, manifest says ${entry.size}`);
  const sha256 = h.sha.digest('hex');
  if (sha256 !== entry.sha256) {
    throw new AgentError(
      'HASH_MISMATCH',
      `${where}: SHA-256 ${sha256} does not match the manifest ${entry.sha256}`,
    );
  }
  const tree = h.tree.digest();
  if (tree.rootHash !== entry.verity.rootHash) {
    throw new AgentError(
      'VERITY_MISMATCH',
      `${where}: dm-verity root hash ${tree.rootHash} does not match the manifest ${entry.verity.rootHash}`,
    );
  }
  return { hashFile: tree.hashFile, rootHash: tree.rootHash };
}
