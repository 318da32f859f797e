/**
 * From fetched bytes to a trusted manifest, in the order TUF's client workflow uses
 * (theupdateframework specification 5.3): signatures and threshold first, then the payload is
 * parsed, then freshness (expiry) and rollback (serial) checks. Pure and synchronous.
 */
import { AgentError, isAgentError } from '../errors.ts';
import { decodeBase64, parseEnvelope, verifyEnvelope } from './dsse.ts';
import { ONE_SHOT } from '../config/one-shot.ts';
import { payloadSchema, type ManifestPayload } from './schema.ts';

export interface TrustPolicy {
  trustedKeys: ReadonlyMap<string, Uint8Array>;
  /** Where the trusted keys were read from (and what was left out), for the messages. */
  trustSource?: string;
  threshold: number;
  /** What to do when no trusted key signed (replaces the trust-store advice after a rotation). */
  trustFix?: string;
  /** Highest serial accepted before; a lower one is a rollback attack. */
  lastSerial: number | null;
  now: Date;
}

export interface TrustedManifest {
  payload: ManifestPayload;
  /** Distinct trusted keys whose signature verified. */
  signerKeyIds: string[];
}

export function parsePayload(bytes: Uint8Array): ManifestPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new AgentError('MANIFEST_FORMAT', 'manifest payload is not valid JSON', { cause: err });
  }
  const parsed = payloadSchema.safeParse(doc, ONE_SHOT);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new AgentError(
      'MANIFEST_FORMAT',
      `manifest payload field ${where}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * The payload of an envelope that was verified before (the cached copy status reads) or that
 * the caller signs itself (publish): parsed and validated, signatures not checked.
 */
export function payloadOfEnvelope(bytes: Uint8Array): ManifestPayload {
  return parsePayload(decodeBase64(parseEnvelope(bytes).payload, 'manifest payload'));
}

export function checkFreshness(payload: ManifestPayload, policy: TrustPolicy): void {
  const expires = Date.parse(payload.expires);
  if (!(expires > policy.now.getTime())) {
    throw new AgentError(
      'EXPIRED',
      `manifest expired at ${payload.expires} (serial ${payload.serial})`,
    );
  }
  if (policy.lastSerial !== null && payload.serial < policy.lastSerial) {
    throw new AgentError(
      'SERIAL_ROLLBACK',
      `manifest serial ${payload.serial} is older than the serial ${policy.lastSerial} already accepted`,
    );
  }
}

const TRUST_FAILURES: ReadonlySet<string> = new Set(['UNTRUSTED', 'THRESHOLD', 'SIGNATURE']);

/** A signature failure names where the trusted keys came from, and what to do. */
function withTrustSource(err: unknown, policy: TrustPolicy): unknown {
  if (!isAgentError(err) || !TRUST_FAILURES.has(err.code) || !policy.trustSource) return err;
  const fix =
    err.code === 'SIGNATURE'
      ? 'this copy was altered (on the mirror or on the way); nothing of it was used'
      : (policy.trustFix ??
        "add the publisher's public key there as NAME.pub, or check that the repository is the one this host trusts");
  return new AgentError(
    err.code,
    `${err.message}; trusted keys read from ${policy.trustSource}: ${fix}`,
    { cause: err },
  );
}

export function verifyManifest(bytes: Uint8Array, policy: TrustPolicy): TrustedManifest {
  const envelope = parseEnvelope(bytes);
  let verified: ReturnType<typeof verifyEnvelope>;
  try {
    verified = verifyEnvelope(envelope, policy.trustedKeys, policy.threshold);
  } catch (err) {
    throw withTrustSource(err, policy);
  }
  const { payload, validKeyIds } = verified;
  const parsed = parsePayload(payload);
  checkFreshness(parsed, policy);
  return { payload: parsed, signerKeyIds: validKeyIds };
}
