/**
 * The store: images/NAME/NAME_VERSION.raw with its verity data beside it
 * (NAME_VERSION.verity, the hash file; NAME_VERSION.roothash, hex text as systemd reads it).
 * An image file only appears in the store by rename after verification, and after its
 * verity data, so a present .raw always has complete siblings.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { sortVersions } from '../version/compare.ts';
import { renameDurable, writeFileAtomic } from './atomic.ts';
import {
  checkOwnDir,
  foreign,
  kindOf,
  lstatOrNull,
  openRegular,
  ownDir,
  READ_NOFOLLOW,
  unlinkEntry,
} from './nofollow.ts';

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
  await ownStoreDir(paths, name);
  // What is renamed into the store is the file that was verified, never a link to one.
  const info = await lstatOrNull(verifiedPartial);
  if (!info?.isFile())
    throw foreign(verifiedPartial, info ? kindOf(info) : 'gone', 'the verified download');
  try {
    await writeFileAtomic(target.hashFile, verity.hashFile, 0o644);
    await writeFileAtomic(target.rootHashFile, `${verity.rootHash}\n`, 0o644);
    await renameDurable(verifiedPartial, target.image);
  } catch (err) {
    // No sidecars without their image: the store is as it was before this version.
    await rm(target.hashFile, { force: true });
    await rm(target.rootHashFile, { force: true });
    throw storeWriteError(err, `${name} ${version}`);
  }
  return target;
}

/** images/ and images/NAME, made if needed, real directories (never written through a link). */
export async function ownStoreDir(paths: HostPaths, name: string): Promise<void> {
  await ownDir(paths.imagesDir);
  await ownDir(storeDir(paths, name));
}

/** A full disk while staging is NO_SPACE; other errno errors are IO naming what was staged. */
export function storeWriteError(err: unknown, what: string): unknown {
  if (err instanceof AgentError) return err;
  const errno = (err as NodeJS.ErrnoException)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT')
    return new AgentError(
      'NO_SPACE',
      `no space left to store ${what} (${errno}): free space on the file system of /var/lib/sysext-agent and run again`,
      { cause: err },
    );
  if (typeof errno !== 'string') return err;
  return new AgentError('IO', `cannot store ${what}: ${(err as Error).message}`, { cause: err });
}

/** True when images/NAME exists (as a real directory); FOREIGN_ENTRY when a link or file is there. */
export async function storeDirExists(paths: HostPaths, name: string): Promise<boolean> {
  return (await checkOwnDir(paths.imagesDir)) && (await checkOwnDir(storeDir(paths, name)));
}

/** Versions present in the store for NAME, oldest first (systemd version order). */
export async function listStored(paths: HostPaths, name: string): Promise<string[]> {
  let entries: string[];
  try {
    if (!(await storeDirExists(paths, name))) return [];
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
  // Never through a symlink, never a FIFO or a device (which would never end).
  const handle = await openRegular(path, READ_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({
      highWaterMark: 1 << 20,
      autoClose: false,
    })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } finally {
    await handle.close();
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
  // Never through a link: images/NAME -> /elsewhere would delete files elsewhere.
  if (!(await storeDirExists(paths, name))) return;
  // The image goes first: without it the version is no longer "installed".
  for (const f of [files.image, files.hashFile, files.rootHashFile])
    await unlinkEntry(f, 'a stored file');
}

/** Everything stored for the named extensions: their store folders and partial downloads. */
export async function deleteExtensionFiles(
  paths: HostPaths,
  names: readonly string[],
): Promise<void> {
  // Both listed and deleted only as real directories: a link would lead the deletes elsewhere.
  const partials = (await checkOwnDir(paths.partialDir))
    ? await readdir(paths.partialDir).catch(() => [] as string[])
    : [];
  const haveStore = await checkOwnDir(paths.imagesDir);
  for (const name of names) {
    // rm -r removes a link at images/NAME itself, never what it points at.
    if (haveStore) await rm(storeDir(paths, name), { recursive: true, force: true });
    for (const p of partials.filter((f) => parsePartialFileName(f)?.name === name)) {
      await unlinkEntry(join(paths.partialDir, p), 'a partial download');
    }
  }
}
