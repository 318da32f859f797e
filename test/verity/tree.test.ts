// The dm-verity superblock, hash tree and parsers, in process. The comparison with the real
// `veritysetup` (the oracle) is in tree.oracle.test.ts.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomVerityParams, verityOfFile } from '../../src/verity/file.ts';
import { OFFSETS, SUPERBLOCK_SIZE, encodeSuperblock } from '../../src/verity/superblock.ts';
import { VerityTreeBuilder, parseSaltHex, parseUuid } from '../../src/verity/tree.ts';
import type { VerityParams, VerityResult } from '../../src/verity/tree.ts';

const BLOCK = 4096;
const UUID = '0123abcd-4567-89ef-0123-456789abcdef';

function build(data: Buffer, params: VerityParams, chunkSizes?: () => number): VerityResult {
  const builder = new VerityTreeBuilder(params);
  for (let off = 0; off < data.length;) {
    const n = chunkSizes ? chunkSizes() : data.length;
    builder.update(data.subarray(off, off + n));
    off += n;
  }
  return builder.digest();
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'no error';
}

const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

describe('verity superblock', () => {
  const salt = Buffer.from('00112233445566778899', 'hex');
  const sb = encodeSuperblock({
    uuid: UUID,
    hashAlgorithm: 'sha256',
    dataBlockSize: BLOCK,
    hashBlockSize: BLOCK,
    dataBlocks: 0x1_0000_0002,
    salt,
  });

  it('has the struct verity_sb layout', () => {
    expect(sb.length).toBe(SUPERBLOCK_SIZE);
    expect(sb.subarray(0, 8).toString('latin1')).toBe('verity\0\0');
    expect(sb.readUInt32LE(OFFSETS.version)).toBe(1);
    expect(sb.readUInt32LE(OFFSETS.hashType)).toBe(1);
    expect(sb.subarray(16, 32).toString('hex')).toBe(UUID.replaceAll('-', ''));
    expect(sb.subarray(32, 64)).toEqual(Buffer.concat([Buffer.from('sha256'), Buffer.alloc(26)]));
    expect(sb.readUInt32LE(64)).toBe(BLOCK);
    expect(sb.readUInt32LE(68)).toBe(BLOCK);
    expect(sb.readBigUInt64LE(72)).toBe(0x1_0000_0002n);
    expect(sb.readUInt16LE(80)).toBe(10);
    expect(sb.subarray(82, 88)).toEqual(Buffer.alloc(6));
    expect(sb.subarray(88, 98)).toEqual(salt);
    expect(sb.subarray(98)).toEqual(Buffer.alloc(SUPERBLOCK_SIZE - 98));
  });
});

describe('VerityTreeBuilder', () => {
  const params = { salt: Buffer.from('5a17', 'hex'), uuid: UUID };

  it('hashes a single data block without hash levels: root = H(salt || block)', () => {
    const data = randomBytes(BLOCK);
    const r = build(data, params);
    expect(r.rootHash).toBe(sha(params.salt, data).toString('hex'));
    expect(r.dataBlocks).toBe(1);
    expect(r.hashFile.length).toBe(BLOCK);
    expect(r.hashFile.readBigUInt64LE(OFFSETS.dataBlocks)).toBe(1n);
  });

  it('builds one level for 2..128 blocks, salt prepended, empty salt allowed', () => {
    const data = randomBytes(3 * BLOCK);
    const r = build(data, { salt: Buffer.alloc(0), uuid: UUID });
    const level0 = Buffer.alloc(BLOCK);
    for (let i = 0; i < 3; i++) sha(data.subarray(i * BLOCK, (i + 1) * BLOCK)).copy(level0, i * 32);
    expect(r.hashFile.subarray(BLOCK)).toEqual(level0);
    expect(r.rootHash).toBe(sha(level0).toString('hex'));
    expect(r.hashFile.readUInt16LE(OFFSETS.saltSize)).toBe(0);
  });

  it('gives identical results for unaligned chunking', () => {
    for (const blocks of [1, 2, 129, 300]) {
      const data = randomBytes(blocks * BLOCK);
      const whole = build(data, params);
      for (const max of [1, 7, 4095, 4097, 100_000]) {
        const chunked = build(data, params, () => randomInt(0, max + 1));
        expect(chunked.rootHash).toBe(whole.rootHash);
        expect(chunked.hashFile.equals(whole.hashFile)).toBe(true);
      }
    }
  });

  it('rejects empty and unaligned images with BAD_IMAGE', () => {
    expect(codeOf(() => build(Buffer.alloc(0), params))).toBe('BAD_IMAGE');
    expect(codeOf(() => build(Buffer.alloc(BLOCK - 1), params))).toBe('BAD_IMAGE');
    expect(codeOf(() => build(Buffer.alloc(BLOCK + 1), params))).toBe('BAD_IMAGE');
    expect(codeOf(() => build(Buffer.alloc(512), params))).toBe('BAD_IMAGE');
  });

  it('rejects bad parameters with USAGE', () => {
    expect(codeOf(() => new VerityTreeBuilder({ ...params, uuid: 'nope' }))).toBe('USAGE');
    expect(codeOf(() => new VerityTreeBuilder({ ...params, salt: Buffer.alloc(257) }))).toBe(
      'USAGE',
    );
  });
});

describe('salt and uuid parsers', () => {
  it('parses hex salts up to 256 bytes, empty and "-" meaning none', () => {
    expect(parseSaltHex('')).toEqual(Buffer.alloc(0));
    expect(parseSaltHex('-')).toEqual(Buffer.alloc(0));
    expect(parseSaltHex('aBcD')).toEqual(Buffer.from([0xab, 0xcd]));
    expect(parseSaltHex('00'.repeat(256)).length).toBe(256);
    for (const bad of ['abc', 'zz', '00'.repeat(257), ' 00', '0x00']) {
      expect(codeOf(() => parseSaltHex(bad))).toBe('USAGE');
    }
  });

  it('accepts canonical UUIDs only and lower-cases them', () => {
    expect(parseUuid(UUID.toUpperCase())).toBe(UUID);
    for (const bad of ['', UUID.replaceAll('-', ''), `{${UUID}}`, `${UUID}0`, 'g'.repeat(36)]) {
      expect(codeOf(() => parseUuid(bad))).toBe('USAGE');
    }
  });

  it('randomVerityParams gives a 32-byte salt and a valid uuid', () => {
    const p = randomVerityParams();
    expect(p.salt.length).toBe(32);
    expect(parseUuid(p.uuid)).toBe(p.uuid);
  });
});

describe('verityOfFile', () => {
  it('reports IO for a missing file and BAD_IMAGE for a short one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-file-'));
    try {
      const params = randomVerityParams();
      const missing = verityOfFile(join(dir, 'missing'), params);
      await expect(missing).rejects.toMatchObject({ code: 'IO' });
      await writeFile(join(dir, 'short'), randomBytes(BLOCK * 3 + 100));
      const short = verityOfFile(join(dir, 'short'), params);
      await expect(short).rejects.toMatchObject({ code: 'BAD_IMAGE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a pipe (or a block device) through in order: the same tree as from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-fifo-'));
    try {
      const data = randomBytes(BLOCK * 300);
      const params = randomVerityParams();
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const [fromPipe] = await Promise.all([verityOfFile(fifo, params), writeFile(fifo, data)]);
      expect(fromPipe).toEqual(build(data, params));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
