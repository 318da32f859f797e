/** Small, named changes to the in-memory state; the transaction writes it once at the end. */
import type { ExtensionKind, ManifestPayload } from '../manifest/schema.ts';
import type { AgentState, ExtensionState } from '../store/state.ts';
import { emptyRecord, own } from '../version/own-record.ts';

// Names index records through `own` (issue 11, class 3): `constructor` or `toString` is an
// extension like any other, never a member of Object.prototype.

export function currentVersion(state: AgentState, name: string): string | null {
  return own(state.extensions, name)?.current ?? null;
}

export function quarantinedVersions(state: AgentState, name: string): string[] {
  return (own(state.extensions, name)?.quarantined ?? []).map((q) => q.version);
}

/** The quarantine entries of `name`, with reason and date. */
export function quarantineOf(state: AgentState, name: string): ExtensionState['quarantined'] {
  return own(state.extensions, name)?.quarantined ?? [];
}

export function ensureExtensionState(
  state: AgentState,
  name: string,
  kind: ExtensionKind,
): ExtensionState {
  const existing = own(state.extensions, name);
  if (existing) {
    existing.kind = kind;
    return existing;
  }
  const created: ExtensionState = {
    kind,
    current: null,
    previous: null,
    quarantined: [],
    interrupted: emptyRecord(),
    lastResult: null,
  };
  state.extensions[name] = created;
  return created;
}

/**
 * The serial accepted never goes down (PRODUCT.md promise 5); trust.ts already refused lower
 * ones. `payloadSha256`: the digest of its payload, against which a copy with the same serial
 * is compared (fork detection, src/commands/manifest-fork.ts).
 */
export function recordAccepted(
  state: AgentState,
  payload: ManifestPayload,
  now: Date,
  payloadSha256?: string,
): void {
  if (state.manifest && state.manifest.serial > payload.serial) return;
  // The same serial again (a copy with more signatures): the digest recorded stays.
  const same = state.manifest?.serial === payload.serial ? state.manifest.payloadSha256 : undefined;
  const digest = payloadSha256 ?? same;
  state.manifest = {
    serial: payload.serial,
    expires: payload.expires,
    acceptedAt: now.toISOString(),
    ...(digest === undefined ? {} : { payloadSha256: digest }),
  };
}

/**
 * Quarantines `version`: not taken again unattended. `activated`: the version was current here
 * at some point (a rollback left it, rescue took it out); false for one that failed before it
 * ever became current, whose image `vacuum` may then delete. Once activated, always activated.
 */
export function quarantine(
  ext: ExtensionState,
  version: string,
  reason: string,
  now: Date,
  activated = true,
): void {
  const before = ext.quarantined.find((q) => q.version === version);
  ext.quarantined = ext.quarantined.filter((q) => q.version !== version);
  const wasActive = activated || (before !== undefined && before.activated !== false);
  ext.quarantined.push({ version, reason, at: now.toISOString(), activated: wasActive });
}

/**
 * Forgets the quarantine of `versions` (all of them when null), and their interruption counts:
 * `unquarantine`, or a version installed on purpose that proved healthy. Returns what was forgotten.
 */
export function unquarantine(
  ext: ExtensionState,
  versions: readonly string[] | null,
): ExtensionState['quarantined'] {
  const hit = (v: string) => versions === null || versions.includes(v);
  const forgotten = ext.quarantined.filter((q) => hit(q.version));
  ext.quarantined = ext.quarantined.filter((q) => !hit(q.version));
  for (const v of Object.keys(ext.interrupted)) if (hit(v)) delete ext.interrupted[v];
  return forgotten;
}

export function setResult(
  ext: ExtensionState,
  action: string,
  ok: boolean,
  now: Date,
  message?: string,
): void {
  ext.lastResult = { at: now.toISOString(), action, ok, ...(message ? { message } : {}) };
}
