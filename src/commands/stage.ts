/**
 * Step 4-6 of PRODUCT.md section 1 for one extension: make sure a verified copy of the target
 * version is in the store, downloading (and verifying while downloading) when needed.
 */
import type { Stats } from 'node:fs';
import { AgentError } from '../errors.ts';
import { discardPartial } from '../net/partial.ts';
import { ensureSpace, hashTreeBytes } from '../store/space.ts';
import type { RepositorySource } from '../net/source.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import {
  commitToStore,
  deleteStored,
  storeDirExists,
  storedImageMatches,
} from '../store/images.ts';
import { checkActivation } from '../store/activation.ts';
import { partialPath, storedImage } from '../store/layout.ts';
import { lstatOrNull, ownDir } from '../store/nofollow.ts';
import type { AgentContext } from './context.ts';
import { imageUrls, type FetchedManifest } from './manifest-source.ts';

/** lstat: a symlink in the store is never taken for the file it points at. */
const isFile = (info: Stats | null | undefined): boolean => info?.isFile() === true;

export interface Staged {
  name: string;
  version: string;
  /** True when this run added the image to the store (so a failed run removes it again). */
  added: boolean;
}

export async function stageVersion(
  ctx: AgentContext,
  source: RepositorySource,
  manifest: FetchedManifest,
  name: string,
  version: string,
  entry: ImageEntry,
): Promise<Staged> {
  const stored = storedImage(ctx.paths, name, version);
  // Before anything changes: what sits at the activation path must be ours to switch (the
  // transaction would otherwise find out half way, and have to go back).
  const kind = Object.hasOwn(manifest.payload.extensions, name)
    ? manifest.payload.extensions[name]?.kind
    : undefined;
  if (kind) await checkActivation(ctx.paths, kind, name);
  // images/ and images/NAME, when there, are real directories (FOREIGN_ENTRY for a link).
  await storeDirExists(ctx.paths, name);
  const [image, hashFile, rootHashFile] = await Promise.all(
    [stored.image, stored.hashFile, stored.rootHashFile].map(lstatOrNull),
  );
  const complete = isFile(image) && isFile(hashFile) && isFile(rootHashFile);
  if (complete && (await storedImageMatches(stored.image, entry))) {
    ctx.log.info({ name, version }, 'verified image already in the store');
    return { name, version, added: false };
  }
  // A stored image that does not match (or is a link someone planted) is replaced.
  if (image) await deleteStored(ctx.paths, name, version);
  const partial = partialPath(ctx.paths, name, version);
  const urls = imageUrls(ctx, manifest, entry.path);
  await ownDir(ctx.paths.partialDir, 0o700);
  const partialInfo = await lstatOrNull(partial);
  const have = isFile(partialInfo) ? (partialInfo?.size ?? 0) : 0;
  await ensureSpace(
    ctx.paths.partialDir,
    Math.max(0, entry.size - have) + hashTreeBytes(entry.size),
    `${name} ${version}`,
  );
  ctx.log.info({ name, version, urls, size: entry.size, resumeFrom: have }, 'downloading');
  const bar = ctx.progress?.(`${name} ${version}`, entry.size);
  let verified;
  try {
    verified = await source.downloadImage(urls, entry, partial, bar?.update);
  } finally {
    bar?.stop();
  }
  try {
    await commitToStore(ctx.paths, name, version, partial, verified);
  } catch (err) {
    // A full disk keeps nothing of this version: its space goes back, the host is as it was.
    if (err instanceof AgentError && err.code === 'NO_SPACE') await discardPartial(partial);
    throw err;
  }
  await discardPartial(partial);
  ctx.log.info(
    {
      name,
      version,
      from: verified.sourceUrl,
      received: verified.received,
      rootHash: verified.rootHash,
    },
    'image verified and stored',
  );
  return { name, version, added: true };
}
