/**
 * From level 0 to the root: the hash levels above the data digests, the root hash and the hash
 * file, byte-identical to `veritysetup format` (cryptsetup lib/verity/verity_hash.c, hash
 * format 1, superblock at hash offset 0). Pure: the data digests come in, computed by
 * VerityTreeBuilder in process or by the hashing threads (src/hash/).
 *
 * Tree layout (kernel Documentation/admin-guide/device-mapper/verity.rst): every data block is
 * hashed as H(salt || block); the digests are packed 4096 / 32 = 128 to a zero-padded hash
 * block, forming level 0; each level's blocks are hashed the same way into the next level until
 * a level has a single block, whose salted hash is the root hash. A single data block needs no
 * hash level at all: its own salted hash is the root. On disk the superblock block comes first,
 * then the levels from the top (one block) down to level 0.
 */
import { createHash } from 'node:crypto';
import { encodeSuperblock } from './superblock.ts';

export const BLOCK_SIZE = 4096;
export const DIGEST_SIZE = 32;
export const HASHES_PER_BLOCK = BLOCK_SIZE / DIGEST_SIZE;

export type VerityResult = {
  /** Hex root hash, as `veritysetup format` prints it. */
  rootHash: string;
  /** The complete hash file: superblock block followed by the tree levels. */
  hashFile: Buffer;
  dataBlocks: number;
};

/** Bytes of level 0 for `dataBlocks` digests: whole, zero-padded hash blocks. */
export function level0Size(dataBlocks: number): number {
  return Math.ceil(dataBlocks / HASHES_PER_BLOCK) * BLOCK_SIZE;
}

/**
 * Format 1 hashes salt || block (verity_hash.c verify_hash_block: salt first when version 1).
 * One streaming hash, not a concatenated copy: a level of a 1 GiB image is 2048 blocks, and a
 * fresh 4 KiB buffer each was 8 MiB of garbage at the peak of an update.
 */
export function saltedHash(salt: Buffer, block: Uint8Array): Buffer {
  return createHash('sha256').update(salt).update(block).digest();
}

/** Where each level sits in the hash file: the superblock block, then the top level down to 0. */
export interface TreeLayout {
  /** Bytes of the hash file. */
  size: number;
  /** Byte offset and block count of each level, level 0 first (none for one data block). */
  levels: { offset: number; blocks: number }[];
  /** Where the hashing threads write the data digests: level 0, or past the superblock block
   * when one data block needs no level (its digest is then the root, not in the file). */
  level0Offset: number;
  /** Bytes of the buffer that holds the hash file and level 0. */
  bufferSize: number;
}

export function treeLayout(dataBlocks: number): TreeLayout {
  const counts: number[] = [];
  if (dataBlocks > 1) {
    for (let n = Math.ceil(dataBlocks / HASHES_PER_BLOCK); ; n = Math.ceil(n / HASHES_PER_BLOCK)) {
      counts.push(n);
      if (n === 1) break;
    }
  }
  const levels: TreeLayout['levels'] = [];
  let offset = BLOCK_SIZE;
  for (let i = counts.length - 1; i >= 0; i--) {
    levels[i] = { offset, blocks: counts[i]! };
    offset += counts[i]! * BLOCK_SIZE;
  }
  const level0Offset = levels[0]?.offset ?? BLOCK_SIZE;
  return { size: offset, levels, level0Offset, bufferSize: Math.max(offset, 2 * BLOCK_SIZE) };
}

/**
 * Completes the hash file in `tree` (treeLayout's bufferSize bytes, zero but for level 0 at its
 * offset) in place: the levels above level 0, then the superblock. No copy of the levels is
 * made, so memory stays the size of the tree (32 bytes per 4 KiB data block).
 */
export function completeTree(
  tree: Buffer,
  dataBlocks: number,
  salt: Buffer,
  uuid: string,
): VerityResult {
  const { size, levels, level0Offset } = treeLayout(dataBlocks);
  for (let i = 0; i + 1 < levels.length; i++) {
    const from = levels[i]!;
    const to = levels[i + 1]!;
    for (let b = 0; b < from.blocks; b++) {
      const at = from.offset + b * BLOCK_SIZE;
      saltedHash(salt, tree.subarray(at, at + BLOCK_SIZE)).copy(tree, to.offset + b * DIGEST_SIZE);
    }
  }
  const top = levels.at(-1);
  // Without hash levels the root is the lone data block's digest.
  const root = top
    ? saltedHash(salt, tree.subarray(top.offset, top.offset + BLOCK_SIZE))
    : tree.subarray(level0Offset, level0Offset + DIGEST_SIZE);
  const rootHash = root.toString('hex');
  superblockBlock(dataBlocks, salt, uuid).copy(tree, 0);
  return { rootHash, hashFile: tree.subarray(0, size), dataBlocks };
}

/**
 * The tree over `level0`: the digests of `dataBlocks` data blocks packed 128 to a block (at
 * least `level0Size(dataBlocks)` bytes, zero past the last digest).
 */
export function treeFromLevel0(
  level0: Buffer,
  dataBlocks: number,
  salt: Buffer,
  uuid: string,
): VerityResult {
  const layout = treeLayout(dataBlocks);
  const tree = Buffer.alloc(layout.bufferSize);
  level0.copy(tree, layout.level0Offset, 0, Math.min(level0.length, level0Size(dataBlocks)));
  return completeTree(tree, dataBlocks, salt, uuid);
}

/** The superblock padded to a whole hash block: the hash area starts at the next block. */
function superblockBlock(dataBlocks: number, salt: Buffer, uuid: string): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  encodeSuperblock({
    uuid,
    hashAlgorithm: 'sha256',
    dataBlockSize: BLOCK_SIZE,
    hashBlockSize: BLOCK_SIZE,
    dataBlocks,
    salt,
  }).copy(block);
  return block;
}
