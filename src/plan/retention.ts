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
