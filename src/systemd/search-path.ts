/**
 * Where systemd-sysext / systemd-confext look for extensions, and where they work, as read in
 * systemd's sources: v252 (the strings of Debian 12's systemd-sysext, src/shared/discover-image.c)
 * and v257.13 (src/shared/discover-image.c image_search_path[], src/sysext/sysext.c merge()).
 * 252 still searched /usr/lib and /usr/local/lib for sysexts; 257 dropped them (an extension
 * below the /usr it extends makes overlayfs fail with ELOOP) and never searched /etc for
 * confexts. The union of both is listed: hiding a directory systemd does not read changes
 * nothing, missing one it does read would let a trial merge more than it was asked to.
 */
import type { ExtensionKind } from '../manifest/schema.ts';

const PREFIXES = ['/etc', '/run', '/var/lib', '/usr/local/lib', '/usr/lib'] as const;

/** Every directory either release searches for `kind`, in systemd's order (absolute, under "/"). */
export function searchDirs(kind: ExtensionKind): string[] {
  const leaf = kind === 'sysext' ? 'extensions' : 'confexts';
  return PREFIXES.map((p) => `${p}/${leaf}`);
}

/**
 * The scratch directory of a merge (`/run/systemd/sysext` for both kinds in 252 and 257). The
 * tool mounts a tmpfs there in a child namespace, but creates the directory first on the /run
 * it sees: a trial gives it a tmpfs of its own so that nothing lands on the host's /run.
 */
export const WORKSPACE = '/run/systemd/sysext';

/**
 * Sidecar suffixes systemd looks for next to an image NAME.raw (dm-verity data and signatures;
 * the agent itself only writes .roothash and .verity). They belong to the image: a trial shows
 * them with it, and an image moved aside takes them along.
 */
export const SIDECAR_SUFFIXES: readonly string[] = [
  '.roothash',
  '.usrhash',
  '.roothash.p7s',
  '.usrhash.p7s',
  '.verity',
];

/** `--no-reload` exists from systemd 255; before it a merge never reloaded the manager. */
export const NO_RELOAD_SINCE = 255;
