/**
 * The last accepted manifest, byte for byte, with the validators its mirror sent. A poll sends
 * them as If-None-Match / If-Modified-Since; on 304 the cached bytes are verified again
 * (signatures, expiry, serial) exactly as if they had been downloaded.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import type { Validators } from '../net/document.ts';
import { writeFileAtomic } from './atomic.ts';

export interface ManifestCache {
  url: string;
  validators: Validators;
  bytes: Buffer;
}

const fileOf = (paths: HostPaths): string => join(paths.stateDir, 'manifest-cache.json');

export async function readManifestCache(paths: HostPaths): Promise<ManifestCache | null> {
  try {
    const doc = JSON.parse(await readFile(fileOf(paths), 'utf8')) as {
      url: string;
      etag?: string;
      lastModified?: string;
      bytes: string;
    };
    if (typeof doc.url !== 'string' || typeof doc.bytes !== 'string') return null;
    return {
      url: doc.url,
      validators: { etag: doc.etag, lastModified: doc.lastModified },
      bytes: Buffer.from(doc.bytes, 'base64'),
    };
  } catch {
    return null;
  }
}

export async function writeManifestCache(paths: HostPaths, cache: ManifestCache): Promise<void> {
  const doc = {
    url: cache.url,
    etag: cache.validators.etag,
    lastModified: cache.validators.lastModified,
    bytes: cache.bytes.toString('base64'),
  };
  await writeFileAtomic(fileOf(paths), JSON.stringify(doc) + '\n');
}
