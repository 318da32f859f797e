/**
 * Downloads one image into partial/ and verifies it in the same streaming pass: size, SHA-256
 * and the dm-verity tree are computed from the bytes as they are written (PRODUCT.md promise 6:
 * no second read). Nothing here touches the store; the caller moves the file only on success.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { VerityTreeBuilder } from '../verity/tree.ts';
import type { HttpClient } from './http.ts';

export interface VerifiedDownload {
  /** The complete veritysetup-format hash file for the image, superblock included. */
  hashFile: Buffer;
  rootHash: string;
  sourceUrl: string;
}

class VerifyingSink {
  handle: FileHandle | undefined;
  sha = createHash('sha256');
  verity: VerityTreeBuilder;
  size = 0;
  private readonly path: string;
  private readonly entry: ImageEntry;

  constructor(path: string, entry: ImageEntry) {
    this.path = path;
    this.entry = entry;
    this.verity = this.newTree();
  }

  private newTree(): VerityTreeBuilder {
    const { salt, uuid } = this.entry.verity;
    return new VerityTreeBuilder({ salt: Buffer.from(salt, 'hex'), uuid });
  }

  async start(): Promise<void> {
    await this.handle?.close();
    this.handle = await open(this.path, 'w', 0o600);
    this.sha = createHash('sha256') as Hash;
    this.verity = this.newTree();
    this.size = 0;
  }

  async write(chunk: Buffer): Promise<void> {
    this.sha.update(chunk);
    this.verity.update(chunk);
    this.size += chunk.length;
    await this.handle?.write(chunk);
  }

  async finish(url: string): Promise<VerifiedDownload> {
    await this.handle?.sync();
    await this.handle?.close();
    this.handle = undefined;
    const where = `image ${this.entry.path}`;
    if (this.size !== this.entry.size) {
      throw new AgentError(
        'SIZE_MISMATCH',
        `${where}: ${this.size} bytes, manifest says ${this.entry.size}`,
      );
    }
    const sha256 = this.sha.digest('hex');
    if (sha256 !== this.entry.sha256) {
      throw new AgentError(
        'HASH_MISMATCH',
        `${where}: SHA-256 ${sha256} does not match the manifest ${this.entry.sha256}`,
      );
    }
    const tree = this.verity.digest();
    if (tree.rootHash !== this.entry.verity.rootHash) {
      throw new AgentError(
        'VERITY_MISMATCH',
        `${where}: dm-verity root hash ${tree.rootHash} does not match the manifest ${this.entry.verity.rootHash}`,
      );
    }
    return { hashFile: tree.hashFile, rootHash: tree.rootHash, sourceUrl: url };
  }

  async abandon(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await rm(this.path, { force: true });
  }
}

/** Tries each mirror URL in order; every byte is verified wherever it came from. */
export async function downloadVerified(
  http: HttpClient,
  urls: readonly string[],
  entry: ImageEntry,
  partialPath: string,
): Promise<VerifiedDownload> {
  await mkdir(dirname(partialPath), { recursive: true, mode: 0o700 });
  let lastError: unknown;
  for (const url of urls) {
    const sink = new VerifyingSink(partialPath, entry);
    try {
      await http.stream(url, entry.size, sink);
      return await sink.finish(url);
    } catch (err) {
      await sink.abandon();
      lastError = err;
    }
  }
  throw lastError instanceof AgentError
    ? lastError
    : new AgentError('NETWORK', `image ${entry.path}: ${(lastError as Error)?.message}`, {
        cause: lastError,
      });
}
