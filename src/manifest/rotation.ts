/**
 * Key rotation and revocation (PRODUCT.md section 3.2), the pure side: which key set a run
 * starts from, and whether one `keys/N.json` moves it to the next. This is TUF's root rotation
 * (theupdateframework specification 5.3.4): a new set is accepted only when the threshold of
 * the keys trusted now signed it AND the threshold of the new set itself did, so neither a
 * stolen old key alone nor a set of keys nobody trusted yet can take over. A key left out of
 * the next set is revoked: it no longer counts anywhere.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AgentError, isAgentError } from '../errors.ts';
import {
  decodeBase64,
  KEYS_PAYLOAD_TYPE,
  parseEnvelope,
  verifyEnvelope,
  type Envelope,
} from './dsse.ts';
import { keyIdOf } from './keys.ts';

/** A key set and the version of the document it came from (0: the host's trust store). */
export interface KeySet {
  version: number;
  /** Key id (hex SHA-256 of the raw key) to the 32 raw public-key bytes. */
  keys: ReadonlyMap<string, Uint8Array>;
  threshold: number;
}

/** Keys documents are small; the same kind of bound as the manifest's, much lower. */
export const KEYS_MAX_BYTES = 64 * 1024;

/** Rotations followed in one run at most (python-tuf's max_root_rotations is 32). */
export const MAX_ROTATIONS = 32;

export function keysDocumentPath(version: number): string {
  return `keys/${version}.json`;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

const keysPayloadSchema = z.looseObject({
  schema: z.literal(1),
  version: z.number().int().min(1),
  keys: z.array(z.string().regex(HEX_KEY, 'not 64 hex digits (a raw ed25519 public key)')).min(1),
  threshold: z.number().int().min(1),
});

export function keySetOf(keys: ReadonlyMap<string, Uint8Array>, threshold: number): KeySet {
  return { version: 0, keys, threshold };
}

/** Raw public keys as hex, sorted by key id: the form keys documents and trust.json hold. */
export function hexKeys(set: Pick<KeySet, 'keys'>): string[] {
  return [...set.keys.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, key]) => Buffer.from(key).toString('hex'));
}

/**
 * The fingerprint of a starting set (trust store + threshold), kept in trust.json: when the
 * trust store changes, the walk starts again from it (PRODUCT.md section 3.2).
 */
export function fingerprintOf(set: Pick<KeySet, 'keys' | 'threshold'>): string {
  const text = `sysext-agent trust store\nthreshold ${set.threshold}\n${hexKeys(set).join('\n')}\n`;
  return createHash('sha256').update(text).digest('hex');
}

/** Keys from hex, distinct, or a message naming the first bad one. */
export function keysFromHex(hex: readonly string[], what: string): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  for (const [i, text] of hex.entries()) {
    if (!HEX_KEY.test(text)) {
      throw new AgentError('KEYS_INVALID', `${what}: keys.${i} is not 64 hex digits`);
    }
    const raw = new Uint8Array(Buffer.from(text, 'hex'));
    const id = keyIdOf(raw);
    if (keys.has(id)) {
      // A key listed twice would make a threshold look reachable that is not (promise 5).
      throw new AgentError('KEYS_INVALID', `${what}: key ${text} is listed twice`);
    }
    keys.set(id, raw);
  }
  return keys;
}

function parseKeysPayload(bytes: Buffer, version: number, what: string): KeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new AgentError('KEYS_INVALID', `${what}: payload is not valid JSON`, { cause: err });
  }
  const parsed = keysPayloadSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new AgentError(
      'KEYS_INVALID',
      `${what}: payload field ${where}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const payload = parsed.data;
  if (payload.version !== version) {
    // A document served under another number: replayed, or misplaced by the publisher.
    throw new AgentError(
      'KEYS_INVALID',
      `${what}: says version ${payload.version}, expected ${version} (the file's own number)`,
    );
  }
  const keys = keysFromHex(payload.keys, what);
  if (payload.threshold > keys.size) {
    throw new AgentError(
      'KEYS_INVALID',
      `${what}: threshold ${payload.threshold} is more than its ${keys.size} key(s): no manifest could ever be accepted`,
    );
  }
  return { version, keys, threshold: payload.threshold };
}

/** The envelope of a keys document; a malformed one is KEYS_INVALID, naming the document. */
function keysEnvelope(bytes: Uint8Array, where: string): Envelope {
  try {
    return parseEnvelope(bytes, { payloadType: KEYS_PAYLOAD_TYPE, what: where });
  } catch (err) {
    throw isAgentError(err) && err.code === 'MANIFEST_FORMAT'
      ? new AgentError('KEYS_INVALID', err.message, { cause: err })
      : err;
  }
}

/**
 * Accepts `keys/N.json` (N = current.version + 1) over `current`, or throws: SIGNATURE,
 * THRESHOLD or UNTRUSTED when the keys trusted now did not sign it, KEYS_INVALID when it is
 * broken or its own new keys did not sign it to their threshold. The payload is parsed only
 * after the first signature check passed.
 */
export function acceptKeysDocument(bytes: Uint8Array, current: KeySet, where: string): KeySet {
  const version = current.version + 1;
  const envelope = keysEnvelope(bytes, where);
  const { payload } = verifyEnvelope(envelope, current.keys, current.threshold, where);
  const next = parseKeysPayload(payload, version, where);
  try {
    verifyEnvelope(envelope, next.keys, next.threshold, `${where} (by its own new keys)`);
  } catch (err) {
    if (!isAgentError(err)) throw err;
    throw new AgentError(
      'KEYS_INVALID',
      `${err.message}: a new key set must also be signed by its own threshold of keys, so that its keys are known to work`,
      { cause: err },
    );
  }
  return next;
}

/**
 * The key set a keys document claims, its signatures NOT checked: for the publisher, who reads
 * the chain of their own repository to find the set the next document must be signed by.
 */
export function claimedKeySet(bytes: Uint8Array, version: number, where: string): KeySet {
  const envelope = keysEnvelope(bytes, where);
  let payload: Buffer;
  try {
    payload = decodeBase64(envelope.payload, `${where} payload`);
  } catch (err) {
    throw new AgentError('KEYS_INVALID', (err as Error).message, { cause: err });
  }
  return parseKeysPayload(payload, version, where);
}

/** What trust.json holds (PRODUCT.md section 2). */
export interface TrustRecord {
  /** Fingerprint of the trust store the walk started from. */
  origin: string;
  set: KeySet;
}

const recordSchema = z.object({
  schema: z.literal(1),
  origin: z.string().regex(/^[0-9a-f]{64}$/),
  version: z.number().int().min(0),
  keys: z.array(z.string().regex(HEX_KEY)).min(1),
  threshold: z.number().int().min(1),
});

export function serializeTrustRecord(record: TrustRecord): string {
  const doc = {
    schema: 1,
    origin: record.origin,
    version: record.set.version,
    keys: hexKeys(record.set),
    threshold: record.set.threshold,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** trust.json's text, validated; STATE_CORRUPT naming the file and the way out otherwise. */
export function parseTrustRecord(text: string, file: string): TrustRecord {
  const corrupt = (why: string, cause?: unknown) =>
    new AgentError(
      'STATE_CORRUPT',
      `${file}: ${why}; delete it to start the key rotation walk again from the trust store`,
      { cause },
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw corrupt('not valid JSON', err);
  }
  const parsed = recordSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(`field ${issue?.path.join('.') || '(top level)'}: ${issue?.message}`);
  }
  const { origin, version, keys: hex, threshold } = parsed.data;
  let keys: Map<string, Uint8Array>;
  try {
    keys = keysFromHex(hex, file);
  } catch (err) {
    throw corrupt((err as Error).message, err);
  }
  if (threshold > keys.size) throw corrupt(`threshold ${threshold} is more than its keys`);
  return { origin, set: { version, keys, threshold } };
}

/**
 * Where this run's walk starts: the set recorded in trust.json when it grew from this very
 * trust store, else the trust store itself as version 0 (it changed, or nothing was recorded).
 */
export function startOfWalk(
  store: KeySet,
  record: TrustRecord | null,
): { set: KeySet; restarted: boolean } {
  const origin = fingerprintOf(store);
  if (record?.origin === origin) return { set: record.set, restarted: false };
  return { set: { ...store, version: 0 }, restarted: record !== null };
}

/** Whether `set` is what trust.json already says (no write needed). */
export function sameAsRecord(set: KeySet, origin: string, record: TrustRecord | null): boolean {
  if (record === null) return set.version === 0;
  return (
    record.origin === origin &&
    record.set.version === set.version &&
    record.set.threshold === set.threshold &&
    hexKeys(record.set).join() === hexKeys(set).join()
  );
}
