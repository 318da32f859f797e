/** Which stored versions `keep` lets go (PRODUCT.md section 4): never current or previous. Pure. */
import { sortVersions } from '../version/compare.ts';

export function versionsBeyondKeep(
  stored: readonly string[],
  current: string | null,
  previous: string | null,
  keep: number,
): string[] {
  const pinned = new Set([current, previous].filter((v): v is string => v !== null));
  const others = sortVersions(stored.filter((v) => !pinned.has(v))).reverse();
  const room = Math.max(0, keep - pinned.size);
  return others.slice(room);
}

/**
 * Stored versions that are quarantined and were never current here (they failed their merge or
 * health check, or were cut off while being tried): they never worked on this host, so `vacuum`
 * deletes them whatever `keep` says. The quarantine entry itself stays. Never current or
 * previous; an entry without `activated` (an older state) counts as activated and stays.
 */
export function quarantinedNeverActivated(
  stored: readonly string[],
  current: string | null,
  previous: string | null,
  quarantined: readonly { version: string; activated?: boolean | undefined }[],
): string[] {
  const never = new Set(quarantined.filter((q) => q.activated === false).map((q) => q.version));
  return sortVersions(stored.filter((v) => never.has(v) && v !== current && v !== previous));
}
