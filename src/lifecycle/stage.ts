/**
 * Step 4-6 of PRODUCT.md section 1 for one extension: make sure a verified copy of the target
 * version is in the store, downloading (and verifying while downloading) when needed.
 */
import { rm } from 'node:fs/promises';
import { downloadVerified } from '../net/download.ts';
import type { HttpClient } from '../net/http.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import {
  commitToStore,
  deleteStored,
  partialPath,
  storedImage,
  storedImageMatches,
} from '../store/images.ts';
import type { AgentContext } from './context.ts';
import { imageUrls, type FetchedManifest } from './manifest-source.ts';
import { existsSync } from 'node:fs';

export interface Staged {
  name: string;
  version: string;
  /** True when this run added the image to the store (so a failed run removes it again). */
  added: boolean;
}

export async function stageVersion(
  ctx: AgentContext,
  http: HttpClient,
  manifest: FetchedManifest,
  name: string,
  version: string,
  entry: ImageEntry,
): Promise<Staged> {
  const stored = storedImage(ctx.paths, name, version);
  const complete =
    existsSync(stored.image) && existsSync(stored.hashFile) && existsSync(stored.rootHashFile);
  if (complete && (await storedImageMatches(stored.image, entry))) {
    ctx.log.info({ name, version }, 'verified image already in the store');
    return { name, version, added: false };
  }
  if (existsSync(stored.image)) await deleteStored(ctx.paths, name, version);
  const partial = partialPath(ctx.paths, name, version);
  const urls = imageUrls(ctx, manifest, entry.path);
  ctx.log.info({ name, version, urls, size: entry.size }, 'downloading');
  try {
    const verified = await downloadVerified(http, urls, entry, partial);
    await commitToStore(ctx.paths, name, version, partial, verified);
    ctx.log.info(
      { name, version, from: verified.sourceUrl, rootHash: verified.rootHash },
      'image verified and stored',
    );
  } finally {
    await rm(partial, { force: true });
  }
  return { name, version, added: true };
}
