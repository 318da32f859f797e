/**
 * Step 4-6 of PRODUCT.md section 1 for one extension: make sure a verified copy of the target
 * version is in the store, downloading (and verifying while downloading) when needed.
 */
import { mkdir, stat } from 'node:fs/promises';
import { discardPartial } from '../net/partial.ts';
import { ensureSpace, hashTreeBytes } from '../store/space.ts';
import type { RepositorySource } from '../net/source.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { commitToStore, deleteStored, storedImageMatches } from '../store/images.ts';
import { partialPath, storedImage } from '../store/layout.ts';
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
  source: RepositorySource,
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
  await mkdir(ctx.paths.partialDir, { recursive: true, mode: 0o700 });
  const have = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
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
  await commitToStore(ctx.paths, name, version, partial, verified);
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
