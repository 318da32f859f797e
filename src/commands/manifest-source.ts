/**
 * Fetches the manifest from the configured mirrors in order and returns the first copy that
 * passes every trust check. A mirror that is down or serves a bad manifest is skipped. The copy
 * is fetched conditionally on the cached one (304 = the same bytes, verified again).
 */
import { AgentError } from '../errors.ts';
import { loadTrustStore } from '../config/truststore.ts';
import { verifyManifest, type TrustedManifest } from '../manifest/trust.ts';
import type { Validators } from '../net/validators.ts';
import type { RepositorySource } from '../net/source.ts';
import { readManifestCache, writeManifestCache } from '../store/manifest-cache.ts';
import type { AgentState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { cachedDigest, checkFork, payloadDigest } from './manifest-fork.ts';
import { policyOf, rememberKeys, walkKeys, walkStart, type AcceptedKeys } from './trust-walk.ts';

export const MANIFEST_MAX_BYTES = 1024 * 1024;

export interface FetchedManifest extends TrustedManifest {
  /** The mirror base URL that served the accepted copy. */
  baseUrl: string;
  url: string;
  /** The server answered 304: these are the bytes accepted last time. */
  notModified: boolean;
  bytes: Buffer;
  validators: Validators;
  /** SHA-256 of the payload bytes, recorded in state at acceptance (fork detection). */
  payloadSha256: string;
  /** The key set the manifest was verified against (key rotation, PRODUCT.md section 3.2). */
  keys: AcceptedKeys;
}

export async function fetchTrustedManifest(
  ctx: AgentContext,
  source: RepositorySource,
  state: AgentState,
): Promise<FetchedManifest> {
  const store = await loadTrustStore(ctx.paths, ctx.config.trustedKeys, ctx.log);
  const start = await walkStart(ctx, store, ctx.config.threshold);
  const policy = {
    lastSerial: state.manifest?.serial ?? null,
    now: ctx.now(),
  };
  const cache = await readManifestCache(ctx.paths);
  const failures: AgentError[] = [];
  const repositories = ctx.config.repositories;
  for (const [index, baseUrl] of repositories.entries()) {
    const url = new URL('manifest.json', baseUrl).href;
    const cached = cache?.url === url ? cache : null;
    try {
      // Key rotation first, on the same mirror: the manifest is verified against its result.
      const keys = await walkKeys(source, baseUrl, start, ctx.log);
      const doc = await source.fetchDocument(url, MANIFEST_MAX_BYTES, cached?.validators);
      const bytes =
        doc.status === 304 && cached
          ? cached.bytes
          : doc.status === 200
            ? doc.bytes
            : Buffer.alloc(0);
      const trusted = verifyManifest(bytes, { ...policy, ...policyOf(keys, start, store.ignored) });
      // The accepted serial again: only with the payload accepted (manifest-fork.ts).
      const payloadSha256 = payloadDigest(bytes);
      checkFork(state.manifest, trusted.payload.serial, payloadSha256, url, () =>
        cachedDigest(cache?.bytes, trusted.payload.serial),
      );
      // Accepted under a new key set: a new acceptance to record, even for the same bytes.
      const notModified = doc.status === 304 && !keys.changed;
      ctx.log.info(
        { url, serial: trusted.payload.serial, notModified, signers: trusted.signerKeyIds },
        'manifest accepted',
      );
      const validators = doc.status === 200 ? doc.validators : (cached?.validators ?? {});
      return { ...trusted, baseUrl, url, notModified, bytes, validators, keys, payloadSha256 };
    } catch (err) {
      const error =
        err instanceof AgentError ? err : new AgentError('NETWORK', String(err), { cause: err });
      // The network layer's messages already name the URL ("GET URL: ..."): never twice.
      const text = error.message.includes(url) ? error.message : `${url}: ${error.message}`;
      // Logged only when another mirror follows: the last failure is the command's own error,
      // reported once.
      const next = repositories[index + 1];
      if (next !== undefined)
        ctx.log.warn({ code: error.code }, `${text}; trying the next repository ${next}`);
      failures.push(new AgentError(error.code, text, { cause: error }));
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
  await rememberKeys(ctx, manifest.keys);
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
