/**
 * Talks to systemd-sysext / systemd-confext (through execa) and proves a merge. Their exit code
 * is not proof (PRODUCT.md promise 4): systemd skips an image whose extension-release does not
 * match, or whose verity cannot be set up, and still exits 0. So a merge counts only when
 * `status` lists the extension for its hierarchy, its extension-release file is visible in the
 * merged tree, and the kernel's loop device for the merge is backed by the very inode of the
 * stored image we switched to (which tells the new version from the old one).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execaLazy } from '../util/exec.ts';
import { AgentError } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';

export interface MergeTarget {
  kind: ExtensionKind;
  /** `--root` given to the agent, if any. */
  root: string | undefined;
}

function tool(kind: ExtensionKind): string {
  return kind === 'sysext' ? 'systemd-sysext' : 'systemd-confext';
}

function rootArgs(root: string | undefined): string[] {
  return root ? [`--root=${root}`] : [];
}

export async function refresh(target: MergeTarget): Promise<void> {
  const cmd = tool(target.kind);
  const result = await (
    await execaLazy()
  )(cmd, ['refresh', ...rootArgs(target.root)], {
    reject: false,
    all: true,
  });
  if (result.failed) {
    throw new AgentError(
      'MERGE_FAILED',
      `${cmd} refresh failed (exit ${result.exitCode ?? 'signal'}): ${String(result.all ?? result.message).trim()}`,
    );
  }
}

/** Extension names merged per hierarchy, from `systemd-sysext status --json=short`. */
export async function mergedExtensions(target: MergeTarget): Promise<Map<string, string[]>> {
  const cmd = tool(target.kind);
  const result = await (
    await execaLazy()
  )(cmd, ['status', '--json=short', ...rootArgs(target.root)], {
    reject: false,
  });
  if (result.failed)
    throw new AgentError('MERGE_FAILED', `${cmd} status failed: ${result.stderr.trim()}`);
  const map = new Map<string, string[]>();
  for (const row of JSON.parse(result.stdout) as {
    hierarchy: string;
    extensions: string[] | string;
  }[]) {
    map.set(row.hierarchy, Array.isArray(row.extensions) ? row.extensions : []);
  }
  return map;
}

function releaseFile(target: MergeTarget, name: string): string {
  const root = target.root ?? '/';
  return target.kind === 'sysext'
    ? join(root, 'usr/lib/extension-release.d', `extension-release.${name}`)
    : join(root, 'etc/extension-release.d', `extension-release.${name}`);
}

interface LoopDevice {
  name: string;
  'back-ino'?: number | string | null;
  'back-maj:min'?: string | null;
}

async function loopBackedBy(image: string): Promise<boolean> {
  const info = await stat(image);
  const devId = `${Math.floor(info.dev / 256) & 0xfff}:${(info.dev & 0xff) | ((info.dev >> 12) & 0xfff00)}`;
  const result = await (
    await execaLazy()
  )('losetup', ['--json', '--list', '-O', 'NAME,BACK-INO,BACK-MAJ:MIN'], {
    reject: false,
  });
  if (result.failed || !result.stdout.trim()) return false;
  const devices = (JSON.parse(result.stdout) as { loopdevices: LoopDevice[] }).loopdevices;
  return devices.some(
    (d) => Number(d['back-ino']) === info.ino && String(d['back-maj:min'] ?? '').trim() === devId,
  );
}

/** Why `name` is not merged from `image`, or null when it is. */
export async function mergeProblem(
  target: MergeTarget,
  name: string,
  image: string,
): Promise<string | null> {
  const merged = await mergedExtensions(target);
  const hierarchy = target.kind === 'sysext' ? '/usr' : '/etc';
  const listed = [...merged.entries()].some(
    ([h, names]) => h.endsWith(hierarchy) && names.includes(name),
  );
  if (!listed) return `${tool(target.kind)} status does not list ${name} as merged`;
  try {
    await stat(releaseFile(target, name));
  } catch {
    return `extension-release.${name} is not visible in the merged tree`;
  }
  if (!(await loopBackedBy(image)))
    return `no loop device is backed by ${image}: an older image is merged`;
  return null;
}

/** Why `name` is still merged, or null when it is gone (for rollback of a first install, remove). */
export async function unmergeProblem(target: MergeTarget, name: string): Promise<string | null> {
  const merged = await mergedExtensions(target);
  const still = [...merged.values()].some((names) => names.includes(name));
  return still ? `${name} is still merged` : null;
}

/**
 * Before anything is switched: the tool that will refresh must exist (systemd-confext needs
 * systemd >= 254). Otherwise the switch could not be proven, nor the way back.
 */
export async function requireTools(kinds: Iterable<ExtensionKind>): Promise<void> {
  const { access } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean);
  for (const kind of new Set(kinds)) {
    const cmd = tool(kind);
    const found = await Promise.any(dirs.map((d) => access(join(d, cmd), constants.X_OK))).then(
      () => true,
      () => false,
    );
    if (!found) {
      throw new AgentError(
        'UNSUPPORTED',
        `${cmd} is not installed on this host (${kind === 'confext' ? 'systemd >= 254 is needed for configuration extensions' : 'systemd is needed'}); nothing was changed`,
      );
    }
  }
}
