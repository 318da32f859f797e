/**
 * Pure planning: for each configured extension, the newest acceptable version in the manifest
 * and what to do about it. No I/O; the transaction executes the plan.
 */
import type { ExtensionKind, ImageEntry, ManifestPayload } from '../manifest/schema.ts';
import { compareVersions, newestVersion } from '../version/compare.ts';

export type Action = 'install' | 'update' | 'none' | 'missing' | 'newer-installed';

export interface PlanItem {
  name: string;
  kind: ExtensionKind | null;
  current: string | null;
  target: string | null;
  entry: ImageEntry | null;
  action: Action;
  /** Newer versions passed over because they are quarantined. */
  skippedQuarantined: string[];
}

export interface PlanInput {
  names: readonly string[];
  manifest: ManifestPayload;
  current: (name: string) => string | null;
  quarantined: (name: string) => readonly string[];
  allowQuarantined?: boolean;
}

export function planExtension(name: string, input: PlanInput): PlanItem {
  const current = input.current(name);
  const ext = input.manifest.extensions[name];
  if (!ext) {
    return {
      name,
      kind: null,
      current,
      target: null,
      entry: null,
      action: 'missing',
      skippedQuarantined: [],
    };
  }
  const bad = new Set(input.allowQuarantined ? [] : input.quarantined(name));
  const all = Object.keys(ext.versions);
  const acceptable = all.filter((v) => !bad.has(v));
  const target = newestVersion(acceptable) ?? null;
  const skipped = all.filter(
    (v) => bad.has(v) && (target === null || compareVersions(v, target) > 0),
  );
  const base = { name, kind: ext.kind, current, skippedQuarantined: skipped };
  if (target === null) return { ...base, target: null, entry: null, action: 'none' };
  const entry = ext.versions[target]?.images[0] ?? null;
  if (current === null) return { ...base, target, entry, action: 'install' };
  const order = compareVersions(target, current);
  if (order === 0) return { ...base, target, entry, action: 'none' };
  return { ...base, target, entry, action: order > 0 ? 'update' : 'newer-installed' };
}

export function plan(input: PlanInput): PlanItem[] {
  return input.names.map((name) => planExtension(name, input));
}
