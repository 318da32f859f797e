/**
 * Streaming dm-verity hash-tree builder, byte-identical to `veritysetup format` (cryptsetup
 * lib/verity/verity_hash.c, hash format 1, superblock at hash offset 0).
 *
 * Tree layout (kernel Documentation/admin-guide/device-mapper/verity.rst): every data block is
 * hashed as H(salt || block); the digests are packed 4096 / 32 = 128 to a zero-padded hash
 * block, forming level 0; each level's blocks are hashed the same way into the next level until
 * a level has a single block, whose salted hash is the root hash. A single data block needs no
 * hash level at all: its own salted hash is the root. On disk the superblock block comes first,
 * then the levels from the top (one block) down to level 0.
 */
import { hash } from 'node:crypto';
import { AgentError } from '../errors.ts';
import { MAX_SALT_SIZE, encodeSuperblock } from './superblock.ts';

export type VerityParams = {
  salt: Buffer;
  uuid: string;
  dataBlockSize?: 4096;
  hashBlockSize?: 4096;
  hashAlgorithm?: 'sha256';
};

export type VerityResult = {
  /** Hex root hash, as `veritysetup format` prints it. */
  rootHash: string;
  /** The complete hash file: superblock block followed by the tree levels. */
  hashFile: Buffer;
  dataBlocks: number;
};

const BLOCK_SIZE = 4096;
const DIGEST_SIZE = 32;
const HASHES_PER_BLOCK = BLOCK_SIZE / DIGEST_SIZE;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Parse a salt given as hex: an even number of hex digits, at most 256 bytes (the size of the
 * superblock's salt field). Empty means no salt; "-" is accepted too, as veritysetup spells it.
 */
export function parseSaltHex(text: string): Buffer {
  const hex = text === '-' ? '' : text;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
    throw new AgentError('USAGE', `salt must be an even number of hex digits: ${text}`);
  }
  if (hex.length / 2 > MAX_SALT_SIZE) {
    throw new AgentError('USAGE', `salt longer than ${MAX_SALT_SIZE} bytes`);
  }
  return Buffer.from(hex, 'hex');
}

/** Parse a UUID in canonical 8-4-4-4-12 form; returns it lower-cased. */
export function parseUuid(text: string): string {
  if (!UUID_RE.test(text)) {
    throw new AgentError('USAGE', `UUID must be in canonical form (8-4-4-4-12 hex): ${text}`);
  }
  return text.toLowerCase();
}

function checkParams(opts: VerityParams): void {
  if ((opts.dataBlockSize ?? BLOCK_SIZE) !== BLOCK_SIZE) {
    throw new AgentError('USAGE', 'only 4096-byte data blocks are supported');
  }
  if ((opts.hashBlockSize ?? BLOCK_SIZE) !== BLOCK_SIZE) {
    throw new AgentError('USAGE', 'only 4096-byte hash blocks are supported');
  }
  if ((opts.hashAlgorithm ?? 'sha256') !== 'sha256') {
    throw new AgentError('USAGE', 'only sha256 is supported');
  }
  if (opts.salt.length > MAX_SALT_SIZE) {
    throw new AgentError('USAGE', `salt longer than ${MAX_SALT_SIZE} bytes`);
  }
}

export class VerityTreeBuilder {
  readonly #salt: Buffer;
  readonly #uuid: string;
  /** `salt || block`, so each block is hashed with one native call and no allocation. */
  readonly #scratch: Buffer;
  /** Bytes of a data block split across chunks. */
  readonly #pending = Buffer.alloc(BLOCK_SIZE);
  #pendingLength = 0;
  /** Level 0 as zero-padded hash blocks: memory is 32 bytes per data block. */
  readonly #level0: Buffer[] = [];
  #dataBlocks = 0;
  #result: VerityResult | undefined;

  constructor(opts: VerityParams) {
    checkParams(opts);
    this.#uuid = parseUuid(opts.uuid);
    this.#salt = Buffer.from(opts.salt);
    this.#scratch = Buffer.alloc(this.#salt.length + BLOCK_SIZE);
    this.#salt.copy(this.#scratch);
  }

  update(chunk: Uint8Array): void {
    if (this.#result) throw new AgentError('USAGE', 'VerityTreeBuilder.update() after digest()');
    let offset = 0;
    if (this.#pendingLength > 0) {
      offset = Math.min(BLOCK_SIZE - this.#pendingLength, chunk.length);
      this.#pending.set(chunk.subarray(0, offset), this.#pendingLength);
      this.#pendingLength += offset;
      if (this.#pendingLength < BLOCK_SIZE) return;
      this.#addDataBlock(this.#pending);
      this.#pendingLength = 0;
    }
    for (; chunk.length - offset >= BLOCK_SIZE; offset += BLOCK_SIZE) {
      this.#addDataBlock(chunk.subarray(offset, offset + BLOCK_SIZE));
    }
    if (offset < chunk.length) {
      this.#pending.set(chunk.subarray(offset));
      this.#pendingLength = chunk.length - offset;
    }
  }

  digest(): VerityResult {
    if (this.#result) return this.#result;
    const size = this.#dataBlocks * BLOCK_SIZE + this.#pendingLength;
    if (this.#pendingLength !== 0 || this.#dataBlocks === 0) {
      throw new AgentError(
        'BAD_IMAGE',
        `image size ${size} is not a positive multiple of ${BLOCK_SIZE} bytes`,
      );
    }
    const levels = this.#dataBlocks === 1 ? [] : this.#buildLevels();
    const top = levels.at(-1)?.[0];
    // Without hash levels the root is the lone data block's digest, which sits in #level0.
    const root = top ? this.#saltedHash(top) : this.#level0[0]!.subarray(0, DIGEST_SIZE);
    this.#result = {
      rootHash: root.toString('hex'),
      hashFile: Buffer.concat([this.#superblockBlock(), ...levels.toReversed().flat()]),
      dataBlocks: this.#dataBlocks,
    };
    return this.#result;
  }

  #addDataBlock(block: Uint8Array): void {
    const slot = this.#dataBlocks % HASHES_PER_BLOCK;
    if (slot === 0) this.#level0.push(Buffer.alloc(BLOCK_SIZE));
    this.#level0.at(-1)!.set(this.#saltedHash(block), slot * DIGEST_SIZE);
    this.#dataBlocks++;
  }

  /** Format 1 hashes salt || block (verity_hash.c verify_hash_block: salt first when version 1). */
  #saltedHash(block: Uint8Array): Buffer {
    if (this.#salt.length === 0) return hash('sha256', block, 'buffer');
    this.#scratch.set(block, this.#salt.length);
    return hash('sha256', this.#scratch, 'buffer');
  }

  /** Level 0 and every level above it, up to the level made of a single block. */
  #buildLevels(): Buffer[][] {
    const levels = [this.#level0];
    for (let level = this.#level0; level.length > 1;) {
      level = this.#hashLevel(level);
      levels.push(level);
    }
    return levels;
  }

  #hashLevel(blocks: Buffer[]): Buffer[] {
    const next: Buffer[] = [];
    blocks.forEach((block, i) => {
      const slot = i % HASHES_PER_BLOCK;
      if (slot === 0) next.push(Buffer.alloc(BLOCK_SIZE));
      next.at(-1)!.set(this.#saltedHash(block), slot * DIGEST_SIZE);
    });
    return next;
  }

  /** The superblock padded to a whole hash block: the hash area starts at the next block. */
  #superblockBlock(): Buffer {
    const block = Buffer.alloc(BLOCK_SIZE);
    encodeSuperblock({
      uuid: this.#uuid,
      hashAlgorithm: 'sha256',
      dataBlockSize: BLOCK_SIZE,
      hashBlockSize: BLOCK_SIZE,
      dataBlocks: this.#dataBlocks,
      salt: this.#salt,
    }).copy(block);
    return block;
  }
}
