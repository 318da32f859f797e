/**
 * Fork detection (TUF specification 5.3: a new version number is never reused for other
 * content): a manifest whose serial equals the one accepted must carry the same payload bytes.
 * Signatures may differ (a second signer may have added one, a key rotation re-signed it); the
 * payload may not. Two copies with one serial mean an attack (a mirror serving a variant to
 * some hosts) or a publisher error; either way neither is trusted over the other.
 *
 * What is compared: the SHA-256 of the payload accepted, kept in state.json at acceptance
 * (`manifest.payloadSha256`), so that deleting the manifest cache does not lift the check.
 * A state written before that field has none: then the cached copy stands in when its serial is
 * the accepted one; with neither, the copy is accepted and its digest recorded from then on.
 */
import { createHash } from 'node:crypto';
import { AgentError } from '../errors.ts';
import { decodeBase64, parseEnvelope } from '../manifest/dsse.ts';
import { payloadOfEnvelope } from '../manifest/trust.ts';

/** SHA-256 (hex) of the payload bytes of a manifest envelope (signatures left out). */
export function payloadDigest(envelope: Uint8Array): string {
  const payload = decodeBase64(parseEnvelope(envelope).payload, 'manifest payload');
  return createHash('sha256').update(payload).digest('hex');
}

/** The digest of a cached envelope when it carries `serial`; null when it cannot say. */
export function cachedDigest(envelope: Uint8Array | undefined, serial: number): string | null {
  if (!envelope) return null;
  try {
    return payloadOfEnvelope(envelope).serial === serial ? payloadDigest(envelope) : null;
  } catch {
    return null;
  }
}

export interface AcceptedRecord {
  serial: number;
  payloadSha256?: string | undefined;
}

/** Refuses a copy with the accepted serial and another payload (FORK, exit 1). */
export function checkFork(
  accepted: AcceptedRecord | null,
  serial: number,
  digest: string,
  url: string,
  legacy: () => string | null,
): void {
  if (!accepted || accepted.serial !== serial) return;
  const known = accepted.payloadSha256 ?? legacy();
  if (known === null || known === digest) return;
  throw new AgentError(
    'FORK',
    `${url}: manifest serial ${serial} differs from the manifest accepted with the same serial ` +
      `(payload SHA-256 ${digest.slice(0, 12)}..., accepted ${known.slice(0, 12)}...): a serial is ` +
      `never reused for other content, so this is an attack or a publisher error; nothing of it ` +
      `was used (the publisher's fix: publish again, which takes the next serial)`,
  );
}
