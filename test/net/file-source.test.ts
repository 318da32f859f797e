/**
 * The local-directory repository source (src/net/file-source.ts) in process, no root: the
 * manifest capped and validated like an HTTP document (304 for an unchanged file, 200 after any
 * change, even one that keeps size and mtime), images copied and verified exactly as HTTP
 * downloads are, symlinks and non-regular files refused; and the scheme router (src/net/source.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import type { ImageEntry } from '../../src/manifest/schema.ts';
import type { VerifiedDownload } from '../../src/net/download.ts';
import { contentTag, createFileSource } from '../../src/net/file-source.ts';
import { routedSource, type RepositorySource } from '../../src/net/source.ts';
import { randomVerityParams, verityOfFile } from '../../src/verity/file.ts';

const NETWORK = {
  connectTimeoutSec: 1,
  idleTimeoutSec: 1,
  attempts: 1,
  maxTotalSec: 5,
};

/** What `publish` would write into the manifest for `file` at `path`. */
async function entryFor(file: string, path: string): Promise<ImageEntry> {
  const bytes = await readFile(file);
  const params = randomVerityParams();
  const tree = await verityOfFile(file, params);
  return {
    path,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    verity: {
      rootHash: tree.rootHash,
      salt: params.salt.toString('hex'),
      uuid: params.uuid,
      hashAlgorithm: 'sha256',
      dataBlockSize: 4096,
      hashBlockSize: 4096,
    },
  };
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return { code: (err as AgentError).code, message: (err as AgentError).message };
  }
  throw new Error('expected a failure');
}

describe('file source', () => {
  let dir: string;
  let repo: string;
  let base: string;
  let imageFile: string;
  let image: Buffer;
  let entry: ImageEntry;
  let partial: string;
  const source = createFileSource();
  const manifestUrl = () => new URL('manifest.json', base).href;
  const imageUrl = () => new URL(entry.path, base).href;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-file-source-'));
    repo = join(dir, 'repo');
    base = pathToFileURL(repo + '/').href;
    await mkdir(join(repo, 'big'), { recursive: true });
    // 2.5 MiB: several 1 MiB chunks and a short last one.
    image = randomBytes(2.5 * 1024 * 1024);
    imageFile = join(repo, 'big/big_1.0.raw');
    await writeFile(imageFile, image);
    entry = await entryFor(imageFile, 'big/big_1.0.raw');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    partial = join(dir, 'partial', 'big_1.0.raw.part');
    await rm(join(dir, 'partial'), { recursive: true, force: true });
    await writeFile(imageFile, image);
  });

  describe('the manifest', () => {
    it('is read whole with a content validator; unchanged: 304; changed: 200', async () => {
      const file = join(repo, 'manifest.json');
      const first = Buffer.from('{"payload":"one","signatures":[]}\n');
      await writeFile(file, first);
      const got = await source.fetchDocument(manifestUrl(), 1024);
      expect(got).toEqual({ status: 200, bytes: first, validators: { etag: contentTag(first) } });
      if (got.status !== 200) throw new Error('unreachable');

      expect(await source.fetchDocument(manifestUrl(), 1024, got.validators)).toEqual({
        status: 304,
      });
      // Touched, same bytes: still 304 (nothing new to verify).
      const now = new Date();
      await utimes(file, now, now);
      expect((await source.fetchDocument(manifestUrl(), 1024, got.validators)).status).toBe(304);

      // New bytes of the same size with the old mtime (as FAT's 2 s mtime could give): 200.
      const before = await stat(file);
      const second = Buffer.from('{"payload":"two","signatures":[]}\n');
      expect(second.length).toBe(first.length);
      await writeFile(file, second);
      await utimes(file, before.atime, before.mtime);
      const changed = await source.fetchDocument(manifestUrl(), 1024, got.validators);
      expect(changed).toEqual({
        status: 200,
        bytes: second,
        validators: { etag: contentTag(second) },
      });
      // Validators from somewhere else (an HTTP Last-Modified) never match: 200.
      expect(
        (await source.fetchDocument(manifestUrl(), 1024, { lastModified: before.mtime.toString() }))
          .status,
      ).toBe(200);
    });

    it('beyond maxBytes: TOO_LARGE; exactly maxBytes is read', async () => {
      await writeFile(join(repo, 'manifest.json'), Buffer.alloc(101, 0x20));
      const big = await codeOf(source.fetchDocument(manifestUrl(), 100));
      expect(big.code).toBe('TOO_LARGE');
      expect(big.message).toContain(join(repo, 'manifest.json'));
      const exact = await source.fetchDocument(manifestUrl(), 101);
      expect(exact.status === 200 && exact.bytes.length).toBe(101);
    });

    it('missing: NETWORK naming the path; a missing directory hints at the medium', async () => {
      await rm(join(repo, 'manifest.json'), { force: true });
      const gone = await codeOf(source.fetchDocument(manifestUrl(), 1024));
      expect(gone.code).toBe('NETWORK');
      expect(gone.message).toBe(
        `cannot read ${join(repo, 'manifest.json')}: ENOENT: no such file or directory`,
      );
      const unmounted = await codeOf(
        source.fetchDocument(pathToFileURL(join(dir, 'media/usb/manifest.json')).href, 1024),
      );
      expect(unmounted.code).toBe('NETWORK');
      expect(unmounted.message).toContain('is the medium mounted?');
    });

    it('a symlink, a directory or a socket is refused, without reading it', async () => {
      const file = join(repo, 'manifest.json');
      await rm(file, { force: true });
      await writeFile(join(dir, 'outside.json'), 'root:secret\n');
      await symlink(join(dir, 'outside.json'), file);
      const link = await codeOf(source.fetchDocument(manifestUrl(), 1024));
      expect(link).toEqual({
        code: 'MANIFEST_FORMAT',
        message: `refusing ${file}: a symbolic link; the manifest of a local repository must be a regular file`,
      });
      await rm(file);
      await mkdir(file);
      expect(await codeOf(source.fetchDocument(manifestUrl(), 1024))).toMatchObject({
        code: 'MANIFEST_FORMAT',
        message: expect.stringContaining('a directory'),
      });
      await rm(file, { recursive: true });
      const server = createServer();
      await new Promise<void>((ok) => server.listen(file, ok));
      try {
        expect(await codeOf(source.fetchDocument(manifestUrl(), 1024))).toMatchObject({
          code: 'MANIFEST_FORMAT',
          message: expect.stringContaining('a socket'),
        });
      } finally {
        await new Promise<void>((ok) => server.close(() => ok()));
        await rm(file, { force: true });
      }
    });
  });

  describe('an image', () => {
    it('is copied into the partial file and verified: size, SHA-256, verity tree', async () => {
      const seen: number[] = [];
      const got = await source.downloadImage([imageUrl()], entry, partial, (done, total) => {
        expect(total).toBe(entry.size);
        seen.push(done);
      });
      expect(got.rootHash).toBe(entry.verity.rootHash);
      const params = { salt: Buffer.from(entry.verity.salt, 'hex'), uuid: entry.verity.uuid };
      expect(got.hashFile.equals((await verityOfFile(imageFile, params)).hashFile)).toBe(true);
      expect(got).toMatchObject({ sourceUrl: imageUrl(), received: entry.size });
      expect((await readFile(partial)).equals(image)).toBe(true);
      expect((await stat(partial)).mode & 0o777).toBe(0o600);
      expect(seen).toEqual([1, 2, 2.5].map((m) => m * 1024 * 1024));
    });

    it('a partial of an HTTP download of the same version is discarded, not appended to', async () => {
      await mkdir(join(dir, 'partial'), { recursive: true });
      await writeFile(partial, randomBytes(300_000));
      await writeFile(
        `${partial}.meta`,
        JSON.stringify({ url: 'http://mirror/big/big_1.0.raw', etag: '"x"', ...entry }),
      );
      const got = await source.downloadImage([imageUrl()], entry, partial);
      expect(got.rootHash).toBe(entry.verity.rootHash);
      expect((await readFile(partial)).equals(image)).toBe(true);
      expect(existsSync(`${partial}.meta`)).toBe(false);
    });

    it('another size than the manifest: SIZE_MISMATCH before anything is copied', async () => {
      await mkdir(join(dir, 'partial'), { recursive: true });
      const http = randomBytes(4096);
      await writeFile(partial, http);
      await writeFile(imageFile, image.subarray(0, image.length - 4096));
      const r = await codeOf(source.downloadImage([imageUrl()], entry, partial));
      expect(r.code).toBe('SIZE_MISMATCH');
      expect(r.message).toContain(`${imageFile} has ${entry.size - 4096} bytes`);
      // Nothing copied: the partial (of another source) is as it was.
      expect((await readFile(partial)).equals(http)).toBe(true);
    });

    it('a flipped byte: HASH_MISMATCH, the partial discarded', async () => {
      const bad = Buffer.from(image);
      bad[1_500_000] = (bad[1_500_000] as number) ^ 1;
      await writeFile(imageFile, bad);
      const r = await codeOf(source.downloadImage([imageUrl()], entry, partial));
      expect(r.code).toBe('HASH_MISMATCH');
      expect(existsSync(partial)).toBe(false);
    });

    it('a verity root hash the image does not have: VERITY_MISMATCH, the partial discarded', async () => {
      const wrong = { ...entry, verity: { ...entry.verity, rootHash: 'ab'.repeat(32) } };
      const r = await codeOf(source.downloadImage([imageUrl()], wrong, partial));
      expect(r.code).toBe('VERITY_MISMATCH');
      expect(existsSync(partial)).toBe(false);
    });

    it('a symlink or a directory where the image should be: BAD_IMAGE, nothing read', async () => {
      const other = join(dir, 'elsewhere.raw');
      await writeFile(other, image);
      await rm(imageFile);
      await symlink(other, imageFile);
      const link = await codeOf(source.downloadImage([imageUrl()], entry, partial));
      expect(link).toEqual({
        code: 'BAD_IMAGE',
        message: `refusing ${imageFile}: a symbolic link; the image of a local repository must be a regular file`,
      });
      expect(existsSync(partial)).toBe(false);
      await rm(imageFile);
      await mkdir(imageFile);
      expect((await codeOf(source.downloadImage([imageUrl()], entry, partial))).code).toBe(
        'BAD_IMAGE',
      );
      await rm(imageFile, { recursive: true });
    });

    it('mirrors in order: a missing copy, then a good one', async () => {
      const missing = pathToFileURL(join(dir, 'nowhere/big/big_1.0.raw')).href;
      const got = await source.downloadImage([missing, imageUrl()], entry, partial);
      expect(got.sourceUrl).toBe(imageUrl());
      const r = await codeOf(source.downloadImage([missing], entry, partial));
      expect(r.code).toBe('NETWORK');
      expect(r.message).toContain(join(dir, 'nowhere/big/big_1.0.raw'));
    });
  });

  describe('routing by scheme', () => {
    function fakeHttp(calls: string[]): () => Promise<RepositorySource> {
      return async () => {
        calls.push('open');
        return {
          fetchDocument: async (url) => {
            calls.push(`doc ${url}`);
            return { status: 304 };
          },
          downloadImage: async (urls) => {
            calls.push(`image ${urls.join(' ')}`);
            return { sourceUrl: urls[0] } as VerifiedDownload;
          },
          close: async () => {
            calls.push('close');
          },
        };
      };
    }

    it('file URLs never open the HTTP source; http URLs open it once, lazily', async () => {
      const calls: string[] = [];
      const open = routedSource({
        http: fakeHttp(calls),
        file: async () => createFileSource(),
      });
      const routed = await open(NETWORK);
      await writeFile(join(repo, 'manifest.json'), '{}');
      expect((await routed.fetchDocument(manifestUrl(), 1024)).status).toBe(200);
      expect((await routed.downloadImage([imageUrl()], entry, partial)).sourceUrl).toBe(imageUrl());
      await routed.close();
      expect(calls).toEqual([]);

      const mixed = await open(NETWORK);
      const missing = pathToFileURL(join(dir, 'nowhere/big/big_1.0.raw')).href;
      await mixed.fetchDocument('https://mirror.example/manifest.json', 1024);
      const got = await mixed.downloadImage(
        [missing, 'http://mirror.example/big/big_1.0.raw', imageUrl()],
        entry,
        partial,
      );
      expect(got.sourceUrl).toBe('http://mirror.example/big/big_1.0.raw');
      await mixed.close();
      expect(calls).toEqual([
        'open',
        'doc https://mirror.example/manifest.json',
        'image http://mirror.example/big/big_1.0.raw',
        'close',
      ]);
    });

    it('the last failure of the mirrors is thrown; other schemes are refused', async () => {
      const routed = await routedSource({
        http: async () => {
          throw new Error('must not open');
        },
        file: async () => createFileSource(),
      })(NETWORK);
      const bad = Buffer.from(image);
      bad[0] = (bad[0] as number) ^ 1;
      await writeFile(imageFile, bad);
      const missing = pathToFileURL(join(dir, 'nowhere/big/big_1.0.raw')).href;
      expect((await codeOf(routed.downloadImage([missing, imageUrl()], entry, partial))).code).toBe(
        'HASH_MISMATCH',
      );
      expect((await codeOf(routed.fetchDocument('ftp://host/manifest.json', 1024))).code).toBe(
        'UNSUPPORTED',
      );
      await routed.close();
    });
  });
});
