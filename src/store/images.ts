/**
 * The store: images/NAME/NAME_VERSION.raw with its verity data beside it
 * (NAME_VERSION.verity, the hash file; NAME_VERSION.roothash, hex text as systemd reads it).
 * An image file only appears in the store by rename after verification, and after its
 * verity data, so a present .raw always has complete siblings.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { sortVersions } from '../version/compare.ts';
import { renameDurable, writeFileAtomic } from './atomic.ts';

import {
  parsePartialFileName,
  storeDir,
  storedImage,
  storedVersionOf,
  type StoredImage,
} from './layout.ts';

export async function commitToStore(
  paths: HostPaths,
  name: string,
  version: string,
  verifiedPartial: string,
  verity: { hashFile: Buffer; rootHash: string },
): Promise<StoredImage> {
  const target = storedImage(paths, name, version);
  await mkdir(storeDir(paths, name), { recursive: true });
  await writeFileAtomic(target.hashFile, verity.hashFile, 0o644);
  await writeFileAtomic(target.rootHashFile, `${verity.rootHash}\n`, 0o644);
  await renameDurable(verifiedPartial, target.image);
  return target;
}

/** Versions present in the store for NAME, oldest first (systemd version order). */
export async function listStored(paths: HostPaths, name: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(storeDir(paths, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return sortVersions(entries.flatMap((f) => storedVersionOf(name, f) ?? []));
}

/** SHA-256 (hex) and size of a file, read once in 1 MiB chunks. */
export async function sha256OfFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** True when the stored image still has the size and SHA-256 the manifest gives. */
export async function storedImageMatches(path: string, entry: ImageEntry): Promise<boolean> {
  const got = await sha256OfFile(path).catch(() => null);
  return got !== null && got.size === entry.size && got.sha256 === entry.sha256;
}

export async function deleteStored(paths: HostPaths, name: string, version: string): Promise<void> {
  const files = storedImage(paths, name, version);
  // The image goes first: without it the version is no longer "installed".
  for (const f of [files.image, files.hashFile, files.rootHashFile]) await rm(f, { force: true });
}

/** Everything stored for the named extensions: their store folders and partial downloads. */
export async function deleteExtensionFiles(
  paths: HostPaths,
  names: readonly string[],
): Promise<void> {
  const partials = await readdir(paths.partialDir).catch(() => [] as string[]);
  for (const name of names) {
    await rm(storeDir(paths, name), { recursive: true, force: true });
    for (const p of partials.filter((f) => parsePartialFileName(f)?.name === name))
      await rm(join(paths.partialDir, p), { force: true });
  }
}
