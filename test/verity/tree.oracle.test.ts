/**
 * Oracle: our dm-verity hash file and root hash are byte-identical to `veritysetup format` (the
 * reference implementation, cryptsetup-bin) over random images and salts, and `veritysetup
 * verify` accepts them. Under CI a missing veritysetup fails this file (test/helpers/requirements.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verityOfFile } from '../../src/verity/file.ts';
import type { VerityParams } from '../../src/verity/tree.ts';
import { missing, toolPath } from '../helpers/requirements.ts';

const BLOCK = 4096;
const run = promisify(execFile);

/** Block counts: tree-shape edges, a few large images (up to 64 MiB and past), most small. */
function oracleSizes(): number[] {
  const edges = [1, 2, 3, 127, 128, 129, 255, 256, 257, 128 * 128, 128 * 128 + 1];
  const medium = Array.from({ length: 6 }, () => randomInt(300, 4000));
  const small = Array.from({ length: 40 }, () => randomInt(1, 300));
  return [...edges, ...medium, ...small];
}

function oracleSalt(i: number): Buffer {
  const fixed = [0, 0, 1, 32, 256];
  return randomBytes(fixed[i] ?? randomInt(0, 257));
}

describe.skipIf(missing('veritysetup'))('oracle: veritysetup format', () => {
  let dir = '';
  let veritysetup = '';
  beforeAll(async () => {
    veritysetup = toolPath('veritysetup');
    dir = await mkdtemp(join(tmpdir(), 'verity-oracle-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function veritysetupFormat(image: string, hashFile: string, p: VerityParams) {
    const salt = p.salt.length === 0 ? '-' : p.salt.toString('hex');
    const args = ['format', `--salt=${salt}`, `--uuid=${p.uuid}`, image, hashFile];
    const { stdout } = await run(veritysetup, args);
    const root = /^Root hash:\s+([0-9a-f]+)$/m.exec(stdout)?.[1];
    expect(root, stdout).toMatch(/^[0-9a-f]{64}$/);
    return root!;
  }

  it('matches root hash and hash file byte for byte', async () => {
    const sizes = oracleSizes();
    for (const [i, blocks] of sizes.entries()) {
      const image = join(dir, `img${i}`);
      const theirs = join(dir, `img${i}.hash`);
      const params = { salt: oracleSalt(i), uuid: randomUUID() };
      await writeFile(image, randomBytes(blocks * BLOCK));
      const ours = await verityOfFile(image, params);
      const root = await veritysetupFormat(image, theirs, params);
      const context = `image ${i}: ${blocks} blocks, salt ${params.salt.length} bytes`;
      expect(ours.rootHash, context).toBe(root);
      expect(ours.dataBlocks, context).toBe(blocks);
      expect(ours.hashFile.equals(await readFile(theirs)), context).toBe(true);
      // Keep the temp dir small: the 64 MiB images are not needed after the comparison.
      await rm(image);
    }
    expect(sizes.length).toBeGreaterThanOrEqual(50);
  });

  it('matches on the hashing threads too (2 and 3 threads forced on small images)', async () => {
    // verityOfFile hashes files under 8 MiB on the calling thread unless told otherwise.
    const random = Array.from({ length: 9 }, () => randomInt(1, 2500));
    const sizes = [1, 2, 129, 255, 256, 257, 513, ...random];
    for (const [i, blocks] of sizes.entries()) {
      const image = join(dir, `threaded${i}`);
      const theirs = join(dir, `threaded${i}.hash`);
      const saltSize = [0, 256, 0, 256, 1, 32][i] ?? randomInt(0, 257);
      const params = { salt: randomBytes(saltSize), uuid: randomUUID() };
      await writeFile(image, randomBytes(blocks * BLOCK));
      const root = await veritysetupFormat(image, theirs, params);
      const expected = await readFile(theirs);
      for (const threads of [2, 3]) {
        const ours = await verityOfFile(image, params, threads);
        const context = `image ${i}: ${blocks} blocks, salt ${saltSize} bytes, ${threads} threads`;
        expect(ours.rootHash, context).toBe(root);
        expect(ours.hashFile.equals(expected), context).toBe(true);
      }
      await rm(image);
    }
  });

  it('veritysetup verify accepts our hash file and root hash', async () => {
    const sizes = [1, 2, 129, 1000, 128 * 128 + 1];
    for (const [i, blocks] of sizes.entries()) {
      const image = join(dir, `verify${i}`);
      await writeFile(image, randomBytes(blocks * BLOCK));
      const params = { salt: oracleSalt(i + 1), uuid: randomUUID() };
      const ours = await verityOfFile(image, params);
      const hashFile = join(dir, `ours${i}.hash`);
      await writeFile(hashFile, ours.hashFile);
      await expect(
        run(veritysetup, ['verify', image, hashFile, ours.rootHash]),
      ).resolves.toBeDefined();
      // And a flipped root hash is refused, so the check above means something.
      const wrong = (ours.rootHash[0] === '0' ? '1' : '0') + ours.rootHash.slice(1);
      await expect(run(veritysetup, ['verify', image, hashFile, wrong])).rejects.toThrow();
    }
  });
});
