/**
 * Fetches the manifest from the configured mirrors in order and returns the first copy that
 * passes every trust check. Records nothing: the caller decides when the serial is accepted.
 */
import { AgentError } from '../errors.ts';
import { underRoot } from '../config/paths.ts';
import { loadTrustedKeys } from '../manifest/truststore.ts';
import { verifyManifest, type TrustedManifest } from '../manifest/trust.ts';
import type { HttpClient } from '../net/http.ts';
import type { AgentState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { existsSync } from 'node:fs';

export const MANIFEST_MAX_BYTES = 1024 * 1024;

export interface FetchedManifest extends TrustedManifest {
  /** The mirror base URL that served the accepted copy. */
  baseUrl: string;
}

/** A configured key path is a host path, so it lives under --root; fall back to it as given. */
function trustedKeysPath(ctx: AgentContext): string {
  const inRoot = underRoot(ctx.paths, ctx.config.trustedKeys);
  return existsSync(inRoot) || ctx.paths.root === '/' ? inRoot : ctx.config.trustedKeys;
}

export async function fetchTrustedManifest(
  ctx: AgentContext,
  http: HttpClient,
  state: AgentState,
): Promise<FetchedManifest> {
  const trustedKeys = await loadTrustedKeys(trustedKeysPath(ctx));
  const policy = {
    trustedKeys,
    threshold: ctx.config.threshold,
    lastSerial: state.manifest?.serial ?? null,
    now: ctx.now(),
  };
  const failures: AgentError[] = [];
  for (const baseUrl of ctx.config.repositories) {
    const url = new URL('manifest.json', baseUrl).href;
    try {
      const bytes = await http.getBytes(url, MANIFEST_MAX_BYTES);
      const trusted = verifyManifest(bytes, policy);
      ctx.log.info(
        { url, serial: trusted.payload.serial, signers: trusted.signerKeyIds },
        'manifest accepted',
      );
      return { ...trusted, baseUrl };
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
    {
      cause: first,
    },
  );
}

/** The image URLs for one entry: the mirror that served the manifest first, then the others. */
export function imageUrls(ctx: AgentContext, manifest: FetchedManifest, path: string): string[] {
  const bases = [
    manifest.baseUrl,
    ...ctx.config.repositories.filter((r) => r !== manifest.baseUrl),
  ];
  return bases.map((b) => new URL(path, b).href);
}
