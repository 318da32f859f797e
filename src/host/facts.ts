/**
 * This host as systemd-sysext sees it when it decides whether to merge an image (PRODUCT.md
 * section 3.1): its os-release, read where systemd reads it (under `--root`; the path in
 * $SYSTEMD_OS_RELEASE when set, with no fallback; else etc/os-release, then usr/lib/os-release,
 * as parse_os_release() in systemd's src/basic/os-util.c), the kernel's architecture in
 * systemd's names, and the systemd version (rules differ between releases). Also the machine id
 * the rollout buckets are computed from.
 */
import { readFile, readlink } from 'node:fs/promises';
import { machine } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import { architectureFromUname, parseReleaseFile, type HostRelease } from '../compat/compatible.ts';
import { parseMachineId } from '../plan/rollout.ts';
import type { SystemdPort } from '../systemd/port.ts';

export interface HostFacts {
  /**
   * Undefined for a tree prepared offline (`--root`) that has no os-release yet: then nothing
   * can be judged before the merge, and images are not filtered (the real host, `/`, without
   * an os-release has no ID, and systemd refuses every image there; so do we).
   */
  release: HostRelease | undefined;
  machineId: string | null;
  /** Where the os-release was read, or why it could not be. */
  osReleaseSource: string;
}

/** When no systemd-sysext answers (an image prepared offline): the current rules. */
const ASSUMED_SYSTEMD = '257';

/** Resolves `path` inside `root` the way chase() does: absolute symlinks stay under the root. */
export async function chase(root: string, path: string, depth = 0): Promise<string> {
  const full = join(root, path);
  const target = await readlink(full).catch(() => null);
  if (target === null || depth > 32) return full;
  const next = isAbsolute(target) ? target : posix.join(posix.dirname(path), target);
  return chase(root, posix.normalize(`/${next}`), depth + 1);
}

/** Where systemd looks for the os-release, in order (under the root). */
export function osReleaseCandidates(): string[] {
  const override = process.env.SYSTEMD_OS_RELEASE;
  return override ? [override] : ['/etc/os-release', '/usr/lib/os-release'];
}

async function readOsRelease(root: string): Promise<{ bytes: Buffer | null; source: string }> {
  const candidates = osReleaseCandidates();
  for (const c of candidates) {
    const file = await chase(root, c);
    const bytes = await readFile(file).catch(() => null);
    if (bytes) return { bytes, source: file };
  }
  return { bytes: null, source: `no os-release under ${root} (${candidates.join(', ')})` };
}

async function readMachineId(paths: HostPaths): Promise<string | null> {
  const text = await readFile(join(paths.root, 'etc/machine-id'), 'utf8').catch(() => '');
  return parseMachineId(text);
}

export async function readHostFacts(paths: HostPaths, systemd: SystemdPort): Promise<HostFacts> {
  const systemdVersion = (await systemd.version()) ?? ASSUMED_SYSTEMD;
  const os = await readOsRelease(paths.root);
  // A host without a (valid) os-release has no ID: systemd then refuses every image, and so
  // do we; `check` shows why.
  let osRelease: Record<string, string> = {};
  let source = os.source;
  try {
    if (os.bytes) osRelease = parseReleaseFile(os.bytes, systemdVersion);
  } catch (err) {
    source = `${os.source} is not valid: ${(err as Error).message}`;
  }
  const unknown = os.bytes === null && paths.root !== '/';
  return {
    release: unknown
      ? undefined
      : { osRelease, architecture: architectureFromUname(machine()) ?? machine(), systemdVersion },
    machineId: await readMachineId(paths),
    osReleaseSource: source,
  };
}
