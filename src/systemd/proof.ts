/**
 * Proof of a merge (PRODUCT.md promise 4), over the systemd port: systemd skips an image whose
 * extension-release does not match, or whose verity cannot be set up, and still exits 0. So a
 * merge counts only when `status` lists the extension for its hierarchy, its extension-release
 * file is visible in the merged tree, and a loop device is backed by the very inode of the
 * stored image we switched to (which tells the new version from the old one).
 */
import { AgentError } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { toolFor, type MergeTarget, type SystemdPort } from './port.ts';

/** Why `name` is not merged from `image`, or null when it is. */
export async function mergeProblem(
  systemd: SystemdPort,
  target: MergeTarget,
  name: string,
  image: string,
): Promise<string | null> {
  const merged = await systemd.merged(target);
  const hierarchy = target.kind === 'sysext' ? '/usr' : '/etc';
  const listed = [...merged.entries()].some(
    ([h, names]) => h.endsWith(hierarchy) && names.includes(name),
  );
  if (!listed) return `${toolFor(target.kind)} status does not list ${name} as merged`;
  if (!(await systemd.releaseVisible(target, name)))
    return `extension-release.${name} is not visible in the merged tree`;
  if (!(await systemd.loopBackedBy(image)))
    return `no loop device is backed by ${image}: an older image is merged`;
  return null;
}

/** Why `name` is still merged, or null when it is gone (rollback of a first install, remove). */
export async function unmergeProblem(
  systemd: SystemdPort,
  target: MergeTarget,
  name: string,
): Promise<string | null> {
  const merged = await systemd.merged(target);
  const still = [...merged.values()].some((names) => names.includes(name));
  return still ? `${name} is still merged` : null;
}

/**
 * Before anything is switched: the tool that will refresh must exist. Otherwise the switch
 * could not be proven, nor the way back.
 */
export async function requireTools(
  systemd: SystemdPort,
  kinds: Iterable<ExtensionKind>,
): Promise<void> {
  for (const kind of new Set(kinds)) {
    if (await systemd.hasTool(kind)) continue;
    const why =
      kind === 'confext'
        ? 'systemd >= 254 is needed for configuration extensions'
        : 'systemd is needed';
    throw new AgentError(
      'UNSUPPORTED',
      `${toolFor(kind)} is not installed on this host (${why}); nothing was changed`,
    );
  }
}
