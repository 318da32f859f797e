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
import { imageFileName, storeDir, type HostPaths } from '../config/paths.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { sortVersions } from '../version/compare.ts';
import { renameDurable, writeFileAtomic } from './atomic.ts';

export interface StoredImage {
  image: string;
  hashFile: string;
  rootHashFile: string;
}

export function storedImage(paths: HostPaths, name: string, version: string): StoredImage {
  const base = join(storeDir(paths, name), imageFileName(name, version));
  const stem = base.slice(0, -'.raw'.length);
  return { image: base, hashFile: `${stem}.verity`, rootHashFile: `${stem}.roothash` };
}

export function partialPath(paths: HostPaths, name: string, version: string): string {
  return join(paths.partialDir, `${imageFileName(name, version)}.part`);
}

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
  const prefix = `${name}_`;
  const versions = entries
    .filter((f) => f.startsWith(prefix) && f.endsWith('.raw'))
    .map((f) => f.slice(prefix.length, -'.raw'.length));
  return sortVersions(versions);
}

/** True when the stored image still has the size and SHA-256 the manifest gives. */
export async function storedImageMatches(path: string, entry: ImageEntry): Promise<boolean> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch {
    return false;
  }
  return size === entry.size && hash.digest('hex') === entry.sha256;
}

export async function deleteStored(paths: HostPaths, name: string, version: string): Promise<void> {
  const files = storedImage(paths, name, version);
  // The image goes first: without it the version is no longer "installed".
  for (const f of [files.image, files.hashFile, files.rootHashFile]) await rm(f, { force: true });
}
