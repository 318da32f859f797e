/**
 * Streaming dm-verity hash-tree builder on the calling thread, byte-identical to `veritysetup
 * format` (levels.ts has the layout). Images of any size are hashed on all cores by src/hash/;
 * this builder serves small inputs (the self-test) and is the in-process reference in tests.
 */
import { hash } from 'node:crypto';
import { AgentError } from '../errors.ts';
import { BLOCK_SIZE, DIGEST_SIZE, HASHES_PER_BLOCK, treeFromLevel0 } from './levels.ts';
import type { VerityResult } from './levels.ts';
import { MAX_SALT_SIZE } from './superblock.ts';

export type { VerityResult } from './levels.ts';

export type VerityParams = {
  salt: Buffer;
  uuid: string;
  dataBlockSize?: 4096;
  hashBlockSize?: 4096;
  hashAlgorithm?: 'sha256';
};

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

/** Refuses parameters other than veritysetup's defaults, and salts over 256 bytes. */
export function checkVerityParams(opts: VerityParams): void {
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

/** dm-verity covers whole data blocks: an image is a positive multiple of 4096 bytes. */
export function checkImageSize(size: number): void {
  if (size <= 0 || size % BLOCK_SIZE !== 0) {
    throw new AgentError(
      'BAD_IMAGE',
      `image size ${size} is not a positive multiple of ${BLOCK_SIZE} bytes`,
    );
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
    checkVerityParams(opts);
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
    checkImageSize(this.#dataBlocks * BLOCK_SIZE + this.#pendingLength);
    this.#result = treeFromLevel0(
      Buffer.concat(this.#level0),
      this.#dataBlocks,
      this.#salt,
      this.#uuid,
    );
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
}
