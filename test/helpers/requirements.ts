/**
 * The one check of what a test needs from the host: tools, root, loop devices. Every test that
 * runs an external tool names it here (`missing('veritysetup')`) and runs it the way it is found
 * here: by name on PATH (or by the path `toolPath` returns), never from a fixed directory, so a
 * tool hidden from PATH is missing for the check and for the test alike.
 *
 * Outside CI a missing requirement prints `skipping: ...` and the caller skips. Under CI=true
 * nothing may skip: `missing` throws an Error naming each missing tool and its Debian package,
 * which fails the test file.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Every external tool a test runs (directly or through the agent), with its Debian 12 package. */
export const TOOLS = {
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  'mkfs.erofs': 'erofs-utils',
  'fsck.erofs': 'erofs-utils',
  veritysetup: 'cryptsetup-bin',
  'systemd-analyze': 'systemd',
  'systemd-sysext': 'systemd',
  openssl: 'openssl',
  nginx: 'nginx-light',
  unshare: 'util-linux',
  // runs the agent inside a mount namespace kept by another process (the ENOSPC test's tmpfs)
  nsenter: 'util-linux',
  losetup: 'mount',
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  time: 'time',
  // the proxy tests (test/helpers/proxy.ts)
  tinyproxy: 'tinyproxy',
  // the metrics tests parse the textfile with prometheus_client's parser (test/metrics)
  python3: 'python3-prometheus-client',
  // the man page renders without warnings (test/systemd-units/man.test.ts)
  man: 'man-db',
} as const;

export type Tool = keyof typeof TOOLS;
export type Requirement = Tool | 'root' | 'loop-devices';

/** What host conditions other than tools mean, and how to get them. */
const CONDITIONS: Record<'root' | 'loop-devices', { present: () => boolean; why: string }> = {
  root: {
    present: () => process.getuid?.() === 0,
    why: 'not running as root (needed for unshare -m, mounts and loop devices)',
  },
  'loop-devices': {
    present: () => existsSync('/dev/loop-control'),
    why: 'no loop device support (/dev/loop-control missing)',
  },
};

/** A real merge in a private mount namespace, of images built here, with nothing served. */
export const REAL_MERGE: readonly Requirement[] = [
  'mksquashfs',
  'veritysetup',
  'root',
  'unshare',
  'systemd-sysext',
  'losetup',
  'loop-devices',
];

/** The groups the older API named: image tools, and everything a real merge needs. */
const GROUPS: Record<'tools' | 'merge', readonly Requirement[]> = {
  tools: ['mksquashfs', 'veritysetup'],
  merge: [...REAL_MERGE, 'nginx'],
};

/** The executable `name` on PATH (as a shell or execa would find it), or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function notOnPath(tool: Tool): string {
  return `${tool} (package ${TOOLS[tool]}) is not on PATH`;
}

/** The absolute path of a required tool; throws, naming it and its package, if it is missing. */
export function toolPath(tool: Tool): string {
  const found = which(tool);
  if (found === undefined) throw new Error(notOnPath(tool));
  return found;
}

function whyMissing(req: Requirement): string | null {
  if (req === 'root' || req === 'loop-devices') {
    const c = CONDITIONS[req];
    return c.present() ? null : c.why;
  }
  return which(req) === undefined ? notOnPath(req) : null;
}

/**
 * Null when every requirement is met. Otherwise: under CI=true throws an Error naming what is
 * missing; elsewhere prints `skipping: ...` and returns that reason (for `describe.skipIf`).
 */
export function missing(...reqs: readonly Requirement[]): string | null {
  const why = [...new Set(reqs)].map(whyMissing).filter((w): w is string => w !== null);
  if (why.length === 0) return null;
  const text = why.join('; ');
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${text}`);
  console.warn(`skipping: ${text}`);
  return text;
}

/** `missing` for a named group: 'tools' (mksquashfs, veritysetup) or 'merge' (a real merge). */
export function missingFor(kind: 'merge' | 'tools'): string | null {
  return missing(...GROUPS[kind]);
}
