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
import { rolloutBucket } from './rollout.ts';

export type Action = 'install' | 'update' | 'none' | 'missing' | 'newer-installed';

export interface HeldBack {
  version: string;
  reason: string;
}

export interface PlanItem {
  name: string;
  kind: ExtensionKind | null;
  current: string | null;
  target: string | null;
  /** The image of `target` for this host. */
  entry: ImageEntry | null;
  action: Action;
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
  quarantined: (name: string) => readonly string[];
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

function rolloutReason(input: PlanInput, name: string, version: string, percent: number) {
  if (percent >= 100) return null;
  if (!input.machineId) return `held back by rollout (${percent}%): this host has no machine id`;
  const bucket = rolloutBucket(input.machineId, name, version);
  return bucket < percent ? null : `held back by rollout (bucket ${bucket}, rollout ${percent}%)`;
}

interface Candidate {
  version: string;
  image: ImageEntry | null;
  reason: string | null;
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
  if (!fit.ok) return { version, image: null, reason: fit.reason };
  const explicit = input.explicit?.(name);
  if (explicit !== undefined)
    return {
      version,
      image: fit.image,
      reason: version === explicit ? null : `not ${explicit}, the version asked for`,
    };
  const pin = input.pin?.(name);
  if (pin !== undefined && version !== pin)
    return { version, image: fit.image, reason: `pinned to ${pin}` };
  const quarantined = !input.allowQuarantined && input.quarantined(name).includes(version);
  if (quarantined) return { version, image: fit.image, reason: 'quarantined' };
  // A host already on the version keeps it, whatever the rollout says now.
  const rollout =
    version === current ? null : rolloutReason(input, name, version, entry.rolloutPercent);
  return { version, image: fit.image, reason: rollout };
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
    heldBack: [],
    skippedQuarantined: [],
    currentIncompatible: null,
  };
  if (!ext) return { name, kind: null, action: 'missing', ...none };
  const candidates = Object.entries(ext.versions).map(([v, e]) =>
    judge(input, name, ext.kind, v, e, current),
  );
  const ok = candidates.filter((c) => c.reason === null);
  const target = newestVersion(ok.map((c) => c.version)) ?? null;
  const chosen = ok.find((c) => c.version === target);
  const heldBack = candidates
    .filter((c) => c.reason !== null && (target === null || compareVersions(c.version, target) > 0))
    .sort((a, b) => compareVersions(b.version, a.version))
    .map((c) => ({ version: c.version, reason: c.reason as string }));
  const currentEntry = current === null ? undefined : ext.versions[current];
  const currentFit = currentEntry ? imageFor(ext.kind, name, currentEntry, input.host) : null;
  const base = {
    name,
    kind: ext.kind,
    current,
    heldBack,
    skippedQuarantined: heldBack.filter((h) => h.reason === 'quarantined').map((h) => h.version),
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
  const moveDown = asked !== undefined || base.currentIncompatible !== null;
  return { ...item, action: moveDown ? 'update' : 'newer-installed' };
}

export function plan(input: PlanInput): PlanItem[] {
  return input.names.map((name) => planExtension(name, input));
}
