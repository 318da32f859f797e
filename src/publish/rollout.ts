/**
 * `rollout`: set a published version's rollout percent (PRODUCT.md section 3.1): next serial,
 * re-signed, written atomically. Also the one parser of a percent for `publish --rollout`.
 */
import { AgentError } from '../errors.ts';
import type { SigningKey } from '../manifest/dsse.ts';
import type { ManifestPayload } from '../manifest/schema.ts';
import { nextPayload, readRepositoryPayload, signedManifest, writeManifest } from './repository.ts';

/** An integer 0-100 written in decimal digits; anything else is a usage error naming `what`. */
export function parsePercent(text: string, what: string): number {
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 100)) {
    throw new AgentError('USAGE', `${what} must be an integer from 0 to 100, not "${text}"`);
  }
  return n;
}

export interface RolloutOptions {
  repo: string;
  keys: readonly SigningKey[];
  expiresInMs: number;
  now: Date;
  name: string;
  version: string;
  percent: number;
}

export interface RolloutResult {
  payload: ManifestPayload;
  previousPercent: number;
}

/**
 * Sets the rollout of NAME VERSION. A repository without manifest.json is a usage error (the
 * directory given is not a repository); a NAME or VERSION the manifest lacks is
 * NOT_IN_MANIFEST, as for `update NAME`; a manifest that does not parse is MANIFEST_FORMAT.
 */
export async function setRollout(opts: RolloutOptions): Promise<RolloutResult> {
  const previous = await readRepositoryPayload(opts.repo);
  if (previous === null) {
    throw new AgentError('USAGE', `${opts.repo} has no manifest.json: publish images there first`);
  }
  const ext = Object.hasOwn(previous.extensions, opts.name)
    ? previous.extensions[opts.name]
    : undefined;
  if (!ext) {
    const names = Object.keys(previous.extensions).sort();
    throw new AgentError(
      'NOT_IN_MANIFEST',
      `${opts.name} is not in the manifest of ${opts.repo} (it has: ${names.join(', ') || 'no extension'})`,
    );
  }
  const entry = Object.hasOwn(ext.versions, opts.version) ? ext.versions[opts.version] : undefined;
  if (!entry) {
    throw new AgentError(
      'NOT_IN_MANIFEST',
      `${opts.name} ${opts.version} is not published in ${opts.repo} (versions: ${Object.keys(ext.versions).join(', ') || 'none'})`,
    );
  }
  const previousPercent = entry.rolloutPercent;
  entry.rolloutPercent = opts.percent;
  const payload = nextPayload(previous, opts.now, opts.expiresInMs);
  await writeManifest(opts.repo, signedManifest(payload, opts.keys));
  return { payload, previousPercent };
}
