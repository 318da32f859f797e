/**
 * Key rotation, the I/O side (PRODUCT.md section 3.2): before the manifest, fetch
 * `keys/(v+1).json` from the repository for the last accepted version v, through the same
 * RepositorySource as the manifest, until the repository has no next document. The decisions
 * are in src/manifest/rotation.ts. trust.json is written only together with the accepted
 * manifest record (rememberManifest): a run that fails leaves it as it was.
 */
import type { TrustStore } from '../config/truststore.ts';
import { AgentError, isAgentError } from '../errors.ts';
import {
  acceptKeysDocument,
  fingerprintOf,
  hexKeys,
  keySetOf,
  keysDocumentPath,
  KEYS_MAX_BYTES,
  MAX_ROTATIONS,
  sameAsRecord,
  startOfWalk,
  type KeySet,
  type TrustRecord,
} from '../manifest/rotation.ts';
import type { TrustPolicy } from '../manifest/trust.ts';
import type { NetLog, RepositorySource } from '../net/source.ts';
import { readTrustRecord, writeTrustRecord } from '../store/trust-record.ts';
import type { AgentContext } from './context.ts';

/** Where this run's walks start (the same for every mirror). */
export interface WalkStart {
  set: KeySet;
  /** Fingerprint of the trust store (and threshold) of this host. */
  origin: string;
  record: TrustRecord | null;
  storeSource: string;
}

/** The key set a mirror's walk ended on, and the document that gave it. */
export interface AcceptedKeys {
  set: KeySet;
  origin: string;
  /** trust.json must be rewritten once the manifest is accepted. */
  changed: boolean;
  /** URL of the keys document the set came from; null for the trust store itself. */
  url: string | null;
}

export async function walkStart(
  ctx: AgentContext,
  store: TrustStore,
  threshold: number,
): Promise<WalkStart> {
  const base = keySetOf(store.keys, threshold);
  const record = await readTrustRecord(ctx.paths);
  const { set, restarted } = startOfWalk(base, record);
  if (restarted) {
    ctx.log.warn(
      { recorded: record?.set.version },
      `the trust store ${store.source} changed since ${ctx.paths.trustFile} was written: key rotation starts again from it`,
    );
  }
  return { set, origin: fingerprintOf(base), record, storeSource: store.source };
}

/**
 * A 404 (HTTP) or a missing file (local repository) ends the walk; nothing else does. The file
 * source wraps the errno as the cause.
 */
function isMissing(err: unknown): boolean {
  if (!isAgentError(err)) return false;
  if (err.code === 'HTTP_STATUS') return err.httpStatus === 404;
  const errno = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return err.code === 'NETWORK' && (errno === 'ENOENT' || errno === 'ENOTDIR');
}

/** Follows the chain on one mirror from `start`; throws on an untrusted or broken document. */
export async function walkKeys(
  source: RepositorySource,
  baseUrl: string,
  start: WalkStart,
  log: NetLog,
): Promise<AcceptedKeys> {
  let set = start.set;
  let url: string | null = null;
  for (let step = 0; step < MAX_ROTATIONS; step++) {
    const next = new URL(keysDocumentPath(set.version + 1), baseUrl).href;
    let doc;
    try {
      doc = await source.fetchDocument(next, KEYS_MAX_BYTES);
    } catch (err) {
      if (isMissing(err)) break;
      throw err;
    }
    if (doc.status !== 200) {
      throw new AgentError('NETWORK', `${next}: answered ${doc.status} to an unconditional GET`);
    }
    set = acceptKeysDocument(doc.bytes, set, next);
    url = next;
    log.info(
      { url: next, version: set.version, threshold: set.threshold, keys: [...set.keys.keys()] },
      `key rotation: accepted ${next}, version ${set.version}`,
    );
  }
  return {
    set,
    origin: start.origin,
    changed: !sameAsRecord(set, start.origin, start.record),
    url,
  };
}

/** The manifest policy fields for an accepted key set. */
export function policyOf(
  keys: AcceptedKeys,
  start: WalkStart,
  ignored: readonly string[],
): Pick<TrustPolicy, 'trustedKeys' | 'threshold' | 'trustSource' | 'trustFix'> {
  if (keys.set.version === 0) {
    return {
      trustedKeys: keys.set.keys,
      threshold: keys.set.threshold,
      trustSource: [start.storeSource, ...ignored].join('; '),
    };
  }
  const from = keys.url ?? `${keysDocumentPath(keys.set.version)} as recorded in trust.json`;
  return {
    trustedKeys: keys.set.keys,
    threshold: keys.set.threshold,
    trustSource: `${from} (key rotation version ${keys.set.version}, starting from the trust store ${start.storeSource})`,
    trustFix:
      'the manifest must be signed by the keys of the newest keys/N.json (keys left out of it are revoked): re-sign it with `sysext-agent publish --key NEW.key` or `rotate`',
  };
}

/** Records the accepted set, when it differs from trust.json (called with the manifest record). */
export async function rememberKeys(ctx: AgentContext, keys: AcceptedKeys): Promise<void> {
  if (!keys.changed) return;
  await writeTrustRecord(ctx.paths, { origin: keys.origin, set: keys.set });
  ctx.log.info(
    { version: keys.set.version, keys: hexKeys(keys.set), threshold: keys.set.threshold },
    `recorded key set version ${keys.set.version} in ${ctx.paths.trustFile}`,
  );
}
