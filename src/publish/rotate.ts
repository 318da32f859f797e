/**
 * `rotate`: the publisher's side of key rotation (PRODUCT.md section 3.2). Writes the next
 * `keys/N.json`, signed by the old keys (so that hosts trusting them accept it) AND the new
 * keys (so that the new set is known to work: TUF root rotation), then re-signs the manifest
 * with the new keys alone, next serial. The keys document goes first: a host that sees the new
 * manifest has the document that makes it trusted on the same mirror (mirrors that copy the
 * repository must copy keys/ before manifest.json).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { KEYS_PAYLOAD_TYPE, signEnvelope, type SigningKey } from '../manifest/dsse.ts';
import { keyIdOf } from '../manifest/keys.ts';
import {
  acceptKeysDocument,
  claimedKeySet,
  hexKeys,
  keysDocumentPath,
  KEYS_MAX_BYTES,
  type KeySet,
} from '../manifest/rotation.ts';
import type { ManifestPayload } from '../manifest/schema.ts';
import { writeFileAtomic } from '../store/atomic.ts';
import { nextPayload, readRepositoryPayload, signedManifest, writeManifest } from './repository.ts';

export interface RotateOptions {
  repo: string;
  oldKeys: readonly SigningKey[];
  newKeys: readonly SigningKey[];
  /** Absent: the previous document's threshold (1 for the first), at most the new key count. */
  threshold?: number;
  expiresInMs: number;
  now: Date;
}

export interface RotateResult {
  version: number;
  file: string;
  keyIds: string[];
  threshold: number;
  payload: ManifestPayload;
}

/** A threshold from the command line: a whole number from 1 to the number of new keys. */
export function parseThreshold(text: string, newKeys: number): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= newKeys)) {
    throw new AgentError(
      'USAGE',
      `--threshold must be a whole number from 1 to the number of --new-key (${newKeys}), not "${text}"`,
    );
  }
  return n;
}

function setOf(keys: readonly SigningKey[], threshold: number, version: number): KeySet {
  return {
    version,
    threshold,
    keys: new Map(keys.map((k) => [keyIdOf(k.publicKey), k.publicKey])),
  };
}

/**
 * The newest keys/N.json of the repository, the chain checked link by link as hosts will check
 * it (document 1 over its own keys: what hosts trust as version 0 is not known here), or null.
 */
async function latestKeys(repo: string): Promise<KeySet | null> {
  let latest: KeySet | null = null;
  for (let n = 1; ; n++) {
    const file = join(repo, keysDocumentPath(n));
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return latest;
      throw new AgentError('IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (bytes.length > KEYS_MAX_BYTES) {
      throw new AgentError('KEYS_INVALID', `${file}: larger than ${KEYS_MAX_BYTES} bytes`);
    }
    const over = latest ?? { ...claimedKeySet(bytes, n, file), version: 0 };
    latest = acceptKeysDocument(bytes, over, file);
  }
}

export async function rotateKeys(opts: RotateOptions): Promise<RotateResult> {
  const previousManifest = await readRepositoryPayload(opts.repo);
  if (previousManifest === null) {
    throw new AgentError(
      'USAGE',
      `${opts.repo} has no manifest.json: publish images there first, then rotate`,
    );
  }
  const previous = await latestKeys(opts.repo);
  const version = (previous?.version ?? 0) + 1;
  const oldIds = new Set(opts.oldKeys.map((k) => keyIdOf(k.publicKey)));
  if (previous) {
    // Hosts accept the new document only with the threshold of the current set's keys on it.
    const current = [...previous.keys.keys()].filter((id) => oldIds.has(id));
    if (current.length < previous.threshold) {
      throw new AgentError(
        'THRESHOLD',
        `${keysDocumentPath(previous.version)} has threshold ${previous.threshold} and keys ${[...previous.keys.keys()].join(', ')}: --key gave ${current.length} of them; hosts would refuse ${keysDocumentPath(version)}`,
      );
    }
  }
  const threshold = Math.min(opts.threshold ?? previous?.threshold ?? 1, opts.newKeys.length);
  const next = setOf(opts.newKeys, threshold, version);
  const document = Buffer.from(
    JSON.stringify({ schema: 1, version, keys: hexKeys(next), threshold }, null, 2) + '\n',
  );
  const signers = [
    ...opts.oldKeys,
    ...opts.newKeys.filter((k) => !oldIds.has(keyIdOf(k.publicKey))),
  ];
  const envelope =
    JSON.stringify(signEnvelope(document, signers, KEYS_PAYLOAD_TYPE), null, 2) + '\n';
  const file = join(opts.repo, keysDocumentPath(version));
  // Never write what hosts would refuse: check it as they will, over the old keys.
  const over = previous ?? setOf(opts.oldKeys, opts.oldKeys.length, 0);
  acceptKeysDocument(Buffer.from(envelope), { ...over, version: version - 1 }, file);
  await writeFileAtomic(file, envelope);
  const payload = nextPayload(previousManifest, opts.now, opts.expiresInMs);
  await writeManifest(opts.repo, signedManifest(payload, opts.newKeys));
  return { version, file, keyIds: [...next.keys.keys()], threshold, payload };
}
