/** Small, named changes to the in-memory state; the transaction writes it once at the end. */
import type { ExtensionKind, ManifestPayload } from '../manifest/schema.ts';
import type { AgentState, ExtensionState } from '../store/state.ts';

export function currentVersion(state: AgentState, name: string): string | null {
  return state.extensions[name]?.current ?? null;
}

export function quarantinedVersions(state: AgentState, name: string): string[] {
  return (state.extensions[name]?.quarantined ?? []).map((q) => q.version);
}

export function ensureExtensionState(
  state: AgentState,
  name: string,
  kind: ExtensionKind,
): ExtensionState {
  const existing = state.extensions[name];
  if (existing) {
    existing.kind = kind;
    return existing;
  }
  const created: ExtensionState = {
    kind,
    current: null,
    previous: null,
    quarantined: [],
    interrupted: {},
    lastResult: null,
  };
  state.extensions[name] = created;
  return created;
}

/** The serial accepted never goes down (PRODUCT.md promise 5); trust.ts already refused lower ones. */
export function recordAccepted(state: AgentState, payload: ManifestPayload, now: Date): void {
  if (state.manifest && state.manifest.serial > payload.serial) return;
  state.manifest = {
    serial: payload.serial,
    expires: payload.expires,
    acceptedAt: now.toISOString(),
  };
}

export function quarantine(ext: ExtensionState, version: string, reason: string, now: Date): void {
  ext.quarantined = ext.quarantined.filter((q) => q.version !== version);
  ext.quarantined.push({ version, reason, at: now.toISOString() });
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
