/**
 * A kind change (issue 11, class 6): the manifest now publishes an installed sysext as a
 * confext, or the other way round. Switching in place would link the new version under
 * /var/lib/confexts while the old sysext entry stays in /var/lib/extensions: both merged, two
 * versions of one extension live at once. It is refused before anything is downloaded or
 * changed (exit 1); the way to move it is explicit: `remove NAME` (which deactivates and
 * proves it left the merge), then `update`. Pure.
 */
import { AgentError } from '../errors.ts';
import type { ExtensionKind, ManifestPayload } from '../manifest/schema.ts';
import type { AgentState } from '../store/state.ts';

export interface KindChange {
  name: string;
  installed: ExtensionKind;
  published: ExtensionKind;
  /** The version that is live (or was, when only a previous one is left). */
  version: string;
}

/** The extensions among `names` that are installed here as one kind and published as another. */
export function kindChanges(
  state: AgentState,
  payload: ManifestPayload,
  names: readonly string[],
): KindChange[] {
  return names.flatMap((name) => {
    const ext = Object.hasOwn(state.extensions, name) ? state.extensions[name] : undefined;
    const published = Object.hasOwn(payload.extensions, name)
      ? payload.extensions[name]?.kind
      : undefined;
    const version = ext?.current ?? ext?.previous ?? null;
    if (!ext || version === null || published === undefined || published === ext.kind) return [];
    return [{ name, installed: ext.kind, published, version }];
  });
}

/** KIND_CHANGED naming each extension, its old and new kind, and the fix. */
export function refuseKindChanges(
  state: AgentState,
  payload: ManifestPayload,
  names: readonly string[],
): void {
  const changes = kindChanges(state, payload, names);
  if (changes.length === 0) return;
  const what = changes
    .map(
      (c) =>
        `${c.name} is installed as a ${c.installed} (${c.version}) and the manifest now publishes it as a ${c.published}`,
    )
    .join('; ');
  const fix = changes.map((c) => `sysext-agent remove ${c.name}`).join(' && ');
  throw new AgentError(
    'KIND_CHANGED',
    `${what}: refusing to switch kinds in place (both activation entries would stay merged); ` +
      `to move it: ${fix}, then sysext-agent update (or update the other extensions by name)`,
  );
}
