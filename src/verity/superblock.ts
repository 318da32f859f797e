/**
 * The on-disk dm-verity superblock that `veritysetup format` writes at the start of the hash
 * device (cryptsetup lib/verity/verity.c, `struct verity_sb`, all integers little-endian):
 *
 *   off  size  field
 *     0     8  signature "verity\0\0"
 *     8     4  version          (1)
 *    12     4  hash_type        (1 = normal; 0 would be the Chrome OS format)
 *    16    16  uuid             (raw bytes of the hash device UUID)
 *    32    32  algorithm        ("sha256", NUL padded)
 *    64     4  data_block_size
 *    68     4  hash_block_size
 *    72     8  data_blocks
 *    80     2  salt_size
 *    82     6  _pad1
 *    88   256  salt             (zero padded)
 *   344   168  _pad2
 *
 * The hash area starts at the next hash-block boundary, so with hash offset 0 the superblock
 * occupies the whole first hash block (the rest is zeros).
 */
import { AgentError } from '../errors.ts';

export const SUPERBLOCK_SIZE = 512;
export const VERITY_SIGNATURE = Buffer.from('verity\0\0', 'latin1');
/** Superblock format version written by cryptsetup. */
export const SUPERBLOCK_VERSION = 1;
/** Hash format 1: the salt is prepended to every hashed block (format 0 appends it). */
export const HASH_TYPE_NORMAL = 1;
/** `salt[256]` in `struct verity_sb`; cryptsetup rejects longer salts. */
export const MAX_SALT_SIZE = 256;
const ALGORITHM_FIELD_SIZE = 32;

export const OFFSETS = {
  signature: 0,
  version: 8,
  hashType: 12,
  uuid: 16,
  algorithm: 32,
  dataBlockSize: 64,
  hashBlockSize: 68,
  dataBlocks: 72,
  saltSize: 80,
  salt: 88,
} as const;

export type SuperblockFields = {
  /** Canonical UUID text (8-4-4-4-12 hex digits). */
  uuid: string;
  hashAlgorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Uint8Array;
};

/** The 16 raw bytes of a canonical UUID, as uuid_parse() stores them (big-endian text order). */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw new AgentError('USAGE', `invalid UUID: ${uuid}`);
  }
  return Buffer.from(hex, 'hex');
}

/** Encode the 512-byte superblock. */
export function encodeSuperblock(fields: SuperblockFields): Buffer {
  const algorithm = Buffer.from(fields.hashAlgorithm, 'latin1');
  if (algorithm.length >= ALGORITHM_FIELD_SIZE) {
    throw new AgentError('USAGE', `hash algorithm name too long: ${fields.hashAlgorithm}`);
  }
  if (fields.salt.length > MAX_SALT_SIZE) {
    throw new AgentError('USAGE', `salt longer than ${MAX_SALT_SIZE} bytes`);
  }
  const sb = Buffer.alloc(SUPERBLOCK_SIZE);
  VERITY_SIGNATURE.copy(sb, OFFSETS.signature);
  sb.writeUInt32LE(SUPERBLOCK_VERSION, OFFSETS.version);
  sb.writeUInt32LE(HASH_TYPE_NORMAL, OFFSETS.hashType);
  uuidBytes(fields.uuid).copy(sb, OFFSETS.uuid);
  algorithm.copy(sb, OFFSETS.algorithm);
  sb.writeUInt32LE(fields.dataBlockSize, OFFSETS.dataBlockSize);
  sb.writeUInt32LE(fields.hashBlockSize, OFFSETS.hashBlockSize);
  sb.writeBigUInt64LE(BigInt(fields.dataBlocks), OFFSETS.dataBlocks);
  sb.writeUInt16LE(fields.salt.length, OFFSETS.saltSize);
  sb.set(fields.salt, OFFSETS.salt);
  return sb;
}
