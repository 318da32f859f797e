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
import { hash } from 'node:crypto';
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

/** Format 1 hashes salt || block (verity_hash.c verify_hash_block: salt first when version 1). */
export function saltedHash(salt: Buffer, block: Uint8Array): Buffer {
  return salt.length === 0
    ? hash('sha256', block, 'buffer')
    : hash('sha256', Buffer.concat([salt, block]), 'buffer');
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
  const levels =
    dataBlocks === 1 ? [] : buildLevels(level0.subarray(0, level0Size(dataBlocks)), salt);
  const top = levels.at(-1);
  // Without hash levels the root is the lone data block's digest, which is level 0's first.
  const root = top ? saltedHash(salt, top) : level0.subarray(0, DIGEST_SIZE);
  return {
    rootHash: root.toString('hex'),
    hashFile: Buffer.concat([superblockBlock(dataBlocks, salt, uuid), ...levels.toReversed()]),
    dataBlocks,
  };
}

/** Level 0 and every level above it, up to the level made of a single block. */
function buildLevels(level0: Buffer, salt: Buffer): Buffer[] {
  const levels = [level0];
  for (let level = level0; level.length > BLOCK_SIZE;) {
    level = hashLevel(level, salt);
    levels.push(level);
  }
  return levels;
}

function hashLevel(level: Buffer, salt: Buffer): Buffer {
  const blocks = level.length / BLOCK_SIZE;
  const next = Buffer.alloc(level0Size(blocks));
  for (let i = 0; i < blocks; i++) {
    const block = level.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE);
    saltedHash(salt, block).copy(next, i * DIGEST_SIZE);
  }
  return next;
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
