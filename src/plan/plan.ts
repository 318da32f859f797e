/**
 * Pure planning (PRODUCT.md sections 1 step 3 and 3.1): for each configured extension, the
 * newest acceptable version in the manifest, the image of it for this host, and what to do.
 * A version is acceptable when one of its images is compatible with this host (the rules
 * systemd-sysext/confext apply at merge time, src/compat), it is not quarantined, and the host
 * is inside its rollout; a pin narrows the choice to one version; `update NAME@VERSION` names
 * it outright (ignoring rollout and quarantine, never compatibility). What was passed over is
 * reported with the reason. No I/O; the transaction executes the plan.
 */
import { compatible, type HostRelease } from '../compat/compatible.ts';
import type {
  ExtensionKind,
  ImageEntry,
  ManifestPayload,
  VersionEntry,
} from '../manifest/schema.ts';
import { compareVersions, newestVersion } from '../version/compare.ts';
import { own } from '../version/own-record.ts';
import { quarantineHold, quarantineNoteOf, rolloutReason } from './holds.ts';

/**
 * `keep-current`: the current version is newer than any version this host is offered (it is
 * quarantined, held back, or no longer published); it stays, since going down happens only when
 * asked for (NAME@VERSION, a pin) or when the current one can no longer be merged here.
 */
export type Action = 'install' | 'update' | 'none' | 'missing' | 'keep-current';

/** Why a version is held back, for scripts; `reason` says it in words. */
export type HoldCause = 'incompatible' | 'quarantined' | 'rollout' | 'pinned' | 'not-asked';

/** A quarantine entry as state.json keeps it. */
export interface QuarantineNote {
  version: string;
  reason: string;
  at: string;
}

export interface HeldBack {
  version: string;
  reason: string;
  cause: HoldCause;
  /** For a quarantined version: why and when it was quarantined. */
  quarantine?: { reason: string; at: string };
}

export interface PlanItem {
  name: string;
  kind: ExtensionKind | null;
  current: string | null;
  target: string | null;
  /** The image of `target` for this host. */
  entry: ImageEntry | null;
  action: Action;
  /** The newest version the manifest publishes, whether this host takes it or not. */
  newest: string | null;
  /** What the action means when it is not obvious (keep-current: why the current one stays). */
  note: string | null;
  /** Versions newer than the target (all, without one) passed over, with the reason. */
  heldBack: HeldBack[];
  /** Newer versions passed over because they are quarantined. */
  skippedQuarantined: string[];
  /** Why the current version can no longer be merged on this host (the OS changed). */
  currentIncompatible: string | null;
}

export interface PlanInput {
  names: readonly string[];
  manifest: ManifestPayload;
  current: (name: string) => string | null;
  /** Quarantined versions (with reason and date when known). */
  quarantined: (name: string) => readonly (string | QuarantineNote)[];
  allowQuarantined?: boolean;
  /** This host as systemd sees it; absent: every image counts as compatible. */
  host?: HostRelease;
  /** `/etc/machine-id`; null: a version in a partial rollout is held back. */
  machineId?: string | null;
  pin?: (name: string) => string | undefined;
  /** `update NAME@VERSION`: exactly this version. */
  explicit?: (name: string) => string | undefined;
}

type Verdict = { ok: true; image: ImageEntry } | { ok: false; reason: string };

/** The first image of `entry` systemd would merge on this host (manifest order). */
export function imageFor(
  kind: ExtensionKind,
  name: string,
  entry: VersionEntry,
  host: HostRelease | undefined,
): Verdict {
  const reasons: string[] = [];
  for (const image of entry.images) {
    // Schema 1 images carry no release: nothing to check before the merge proves it.
    if (!host || !image.release) return { ok: true, image };
    const v = compatible(kind, name, image.release, host);
    if (v.ok) return { ok: true, image };
    reasons.push(v.reason);
  }
  return { ok: false, reason: `no image for this host: ${[...new Set(reasons)].join('; ')}` };
}

interface Candidate {
  version: string;
  image: ImageEntry | null;
  /** null: acceptable. */
  hold: Omit<HeldBack, 'version'> | null;
}

function judge(
  input: PlanInput,
  name: string,
  kind: ExtensionKind,
  version: string,
  entry: VersionEntry,
  current: string | null,
): Candidate {
  const fit = imageFor(kind, name, entry, input.host);
  if (!fit.ok) return { version, image: null, hold: { cause: 'incompatible', reason: fit.reason } };
  const image = fit.image;
  const explicit = input.explicit?.(name);
  if (explicit !== undefined)
    return {
      version,
      image,
      hold:
        version === explicit
          ? null
          : { cause: 'not-asked', reason: `not ${explicit}, the version asked for` },
    };
  const pin = input.pin?.(name);
  if (pin !== undefined && version !== pin)
    return { version, image, hold: { cause: 'pinned', reason: `pinned to ${pin}` } };
  const q = input.allowQuarantined ? null : quarantineNoteOf(input, name, version);
  if (q) return { version, image, hold: quarantineHold(q) };
  // A host already on the version keeps it, whatever the rollout says now.
  const rollout =
    version === current ? null : rolloutReason(input, name, version, entry.rolloutPercent);
  return { version, image, hold: rollout === null ? null : { cause: 'rollout', reason: rollout } };
}

/** Why a current version newer than every version offered stays (action keep-current). */
function keepNote(name: string, current: string, target: string, held: Candidate | undefined) {
  const why = held?.hold
    ? `${current} is ${held.hold.reason}`
    : `${current} is no longer in the manifest`;
  return (
    `current ${current} is newer than any version this host is offered (${why}); it is kept, ` +
    `not downgraded (to go down to ${target} on purpose: sysext-agent update ${name}@${target})`
  );
}

export function planExtension(name: string, input: PlanInput): PlanItem {
  const current = input.current(name);
  const ext = Object.hasOwn(input.manifest.extensions, name)
    ? input.manifest.extensions[name]
    : undefined;
  const none = {
    current,
    target: null,
    entry: null,
    newest: null,
    note: null,
    heldBack: [],
    skippedQuarantined: [],
    currentIncompatible: null,
  };
  if (!ext) return { name, kind: null, action: 'missing', ...none };
  const candidates = Object.entries(ext.versions).map(([v, e]) =>
    judge(input, name, ext.kind, v, e, current),
  );
  const ok = candidates.filter((c) => c.hold === null);
  const target = newestVersion(ok.map((c) => c.version)) ?? null;
  const chosen = ok.find((c) => c.version === target);
  const heldBack: HeldBack[] = candidates
    .filter((c) => c.hold !== null && (target === null || compareVersions(c.version, target) > 0))
    .sort((a, b) => compareVersions(b.version, a.version))
    .map((c) => ({ version: c.version, ...(c.hold as Omit<HeldBack, 'version'>) }));
  const currentEntry = current === null ? undefined : own(ext.versions, current);
  const currentFit = currentEntry ? imageFor(ext.kind, name, currentEntry, input.host) : null;
  const base = {
    name,
    kind: ext.kind,
    current,
    newest: newestVersion(Object.keys(ext.versions)) ?? null,
    note: null,
    heldBack,
    skippedQuarantined: heldBack.filter((h) => h.cause === 'quarantined').map((h) => h.version),
    currentIncompatible: currentFit && !currentFit.ok ? currentFit.reason : null,
  };
  if (target === null || !chosen) return { ...base, target: null, entry: null, action: 'none' };
  const item = { ...base, target, entry: chosen.image };
  if (current === null) return { ...item, action: 'install' };
  const order = compareVersions(target, current);
  if (order === 0) return { ...item, action: 'none' };
  if (order > 0) return { ...item, action: 'update' };
  // An older target replaces the current version only when asked for (NAME@VERSION, a pin),
  // or when the current one can no longer be merged here (after an OS update): then the
  // newest compatible one.
  const asked = input.explicit?.(name) ?? input.pin?.(name);
  if (asked !== undefined || base.currentIncompatible !== null)
    return { ...item, action: 'update' };
  const held = candidates.find((c) => c.version === current);
  return { ...item, action: 'keep-current', note: keepNote(name, current, target, held) };
}

export function plan(input: PlanInput): PlanItem[] {
  return input.names.map((name) => planExtension(name, input));
}
