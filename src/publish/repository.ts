/**
 * The repository's manifest as the publisher-side commands (`publish`, `rollout`) read and write
 * it: the current payload, the next one (next serial, new issue and expiry dates), and the
 * signed envelope written last, atomically.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { signEnvelope, type SigningKey } from '../manifest/dsse.ts';
import { serializePayload, type ManifestPayload } from '../manifest/schema.ts';
import { parsePayload, payloadOfEnvelope } from '../manifest/trust.ts';
import { writeFileAtomic } from '../store/atomic.ts';

export const MANIFEST_FILE = 'manifest.json';

/** The payload of REPO/manifest.json (parsed and validated, signatures not checked), or null. */
export async function readRepositoryPayload(repo: string): Promise<ManifestPayload | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(repo, MANIFEST_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return payloadOfEnvelope(bytes);
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The payload after `previous`: schema 2, next serial, issued now, expiring after `expiresInMs`. */
export function nextPayload(
  previous: ManifestPayload | null,
  now: Date,
  expiresInMs: number,
): ManifestPayload {
  return {
    schema: 2,
    serial: (previous?.serial ?? 0) + 1,
    issued: isoSeconds(now),
    expires: isoSeconds(new Date(now.getTime() + expiresInMs)),
    extensions: previous?.extensions ?? {},
  };
}

/** The signed schema 2 document of `payload`, checked to parse as agents will parse it. */
export function signedManifest(payload: ManifestPayload, keys: readonly SigningKey[]): string {
  const document = Buffer.from(JSON.stringify(serializePayload(payload), null, 2) + '\n');
  try {
    parsePayload(document);
  } catch (err) {
    // Never sign what no agent would accept.
    throw new AgentError(
      'MANIFEST_FORMAT',
      `the new manifest would not be valid: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return JSON.stringify(signEnvelope(document, keys), null, 2) + '\n';
}

/** Writes REPO/manifest.json atomically (temp file, fsync, rename, directory fsync). */
export async function writeManifest(repo: string, envelope: string): Promise<void> {
  await writeFileAtomic(join(repo, MANIFEST_FILE), envelope);
}
