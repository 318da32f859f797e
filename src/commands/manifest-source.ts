/**
 * Fetches the manifest from the configured mirrors in order and returns the first copy that
 * passes every trust check. A mirror that is down or serves a bad manifest is skipped. The copy
 * is fetched conditionally on the cached one (304 = the same bytes, verified again).
 */
import { existsSync } from 'node:fs';
import { underRoot } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { loadTrustedKeys } from '../config/truststore.ts';
import { verifyManifest, type TrustedManifest } from '../manifest/trust.ts';
import type { Validators } from '../net/document.ts';
import type { RepositorySource } from '../net/source.ts';
import { readManifestCache, writeManifestCache } from '../store/manifest-cache.ts';
import type { AgentState } from '../store/state.ts';
import type { AgentContext } from './context.ts';

export const MANIFEST_MAX_BYTES = 1024 * 1024;

export interface FetchedManifest extends TrustedManifest {
  /** The mirror base URL that served the accepted copy. */
  baseUrl: string;
  url: string;
  /** The server answered 304: these are the bytes accepted last time. */
  notModified: boolean;
  bytes: Buffer;
  validators: Validators;
}

/** A configured key path is a host path, so it lives under --root; fall back to it as given. */
function trustedKeysPath(ctx: AgentContext): string {
  const inRoot = underRoot(ctx.paths, ctx.config.trustedKeys);
  return existsSync(inRoot) || ctx.paths.root === '/' ? inRoot : ctx.config.trustedKeys;
}

export async function fetchTrustedManifest(
  ctx: AgentContext,
  source: RepositorySource,
  state: AgentState,
): Promise<FetchedManifest> {
  const trustedKeys = await loadTrustedKeys(trustedKeysPath(ctx));
  const policy = {
    trustedKeys,
    threshold: ctx.config.threshold,
    lastSerial: state.manifest?.serial ?? null,
    now: ctx.now(),
  };
  const cache = await readManifestCache(ctx.paths);
  const failures: AgentError[] = [];
  for (const baseUrl of ctx.config.repositories) {
    const url = new URL('manifest.json', baseUrl).href;
    const cached = cache?.url === url ? cache : null;
    try {
      const doc = await source.fetchDocument(url, MANIFEST_MAX_BYTES, cached?.validators);
      const bytes =
        doc.status === 304 && cached
          ? cached.bytes
          : doc.status === 200
            ? doc.bytes
            : Buffer.alloc(0);
      const trusted = verifyManifest(bytes, policy);
      const notModified = doc.status === 304;
      ctx.log.info(
        { url, serial: trusted.payload.serial, notModified, signers: trusted.signerKeyIds },
        'manifest accepted',
      );
      const validators = doc.status === 200 ? doc.validators : (cached?.validators ?? {});
      return { ...trusted, baseUrl, url, notModified, bytes, validators };
    } catch (err) {
      const error =
        err instanceof AgentError ? err : new AgentError('NETWORK', String(err), { cause: err });
      ctx.log.warn({ url, code: error.code, err: error.message }, 'mirror failed');
      failures.push(new AgentError(error.code, `${url}: ${error.message}`, { cause: error }));
    }
  }
  const first = failures[0];
  if (!first) throw new AgentError('CONFIG', 'no repositories configured');
  if (failures.length === 1) throw first;
  throw new AgentError(
    first.code,
    `every mirror failed: ${failures.map((f) => f.message).join('; ')}`,
    { cause: first },
  );
}

/** Keeps the accepted copy for the next conditional poll. */
export async function rememberManifest(
  ctx: AgentContext,
  manifest: FetchedManifest,
): Promise<void> {
  if (manifest.notModified) return;
  await writeManifestCache(ctx.paths, {
    url: manifest.url,
    validators: manifest.validators,
    bytes: manifest.bytes,
  });
}

/** The image URLs for one entry: the mirror that served the manifest first, then the others. */
export function imageUrls(ctx: AgentContext, manifest: FetchedManifest, path: string): string[] {
  const bases = [
    manifest.baseUrl,
    ...ctx.config.repositories.filter((r) => r !== manifest.baseUrl),
  ];
  return bases.map((b) => new URL(path, b).href);
}
