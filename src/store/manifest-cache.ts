/**
 * The last accepted manifest, byte for byte, with the validators its mirror sent. A poll sends
 * them as If-None-Match / If-Modified-Since; on 304 the cached bytes are verified again
 * (signatures, expiry, serial) exactly as if they had been downloaded.
 *
 * The file is input like any other (an untrusted `--root` tree may carry one): a cache that is
 * not exactly this shape is ignored (a full download then), never an error; validators that
 * could not be sent as a header (control characters, not a string) are ignored with it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ONE_SHOT } from '../config/one-shot.ts';
import type { HostPaths } from '../config/paths.ts';
import type { Validators } from '../net/validators.ts';
import { writeFileAtomic } from './atomic.ts';

export interface ManifestCache {
  url: string;
  validators: Validators;
  bytes: Buffer;
}

/** A header value: visible ASCII and spaces, bounded (RFC 9110 field-value, no CR/LF). */
const headerValue = z
  .string()
  .max(1024)
  .regex(/^[\x20-\x7e]*$/);

const cacheSchema = z.object({
  url: z.string().max(8192),
  etag: headerValue.optional(),
  lastModified: headerValue.optional(),
  // The manifest is capped at 1 MiB when downloaded; its base64 is 4/3 of that.
  bytes: z
    .string()
    .max(2 << 20)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/),
});

const fileOf = (paths: HostPaths): string => join(paths.stateDir, 'manifest-cache.json');

export async function readManifestCache(paths: HostPaths): Promise<ManifestCache | null> {
  try {
    const parsed = cacheSchema.safeParse(
      JSON.parse(await readFile(fileOf(paths), 'utf8')),
      ONE_SHOT,
    );
    if (!parsed.success) return null;
    const doc = parsed.data;
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
