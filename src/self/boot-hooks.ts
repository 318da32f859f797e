/**
 * The agent's boot-time hooks for hosts where it is itself an extension (PRODUCT.md section 8).
 * Units that arrive with a merge cannot act before it: recovery must run before
 * systemd-sysext.service merges (promise 2), and a rescue must run when that merge failed and
 * left the agent unmerged. So while its own extensions are configured, every `update` makes sure
 * the host has, outside any extension:
 *
 * - /etc/systemd/system/sysext-agent-boot-recover.service (+ its sysinit.target.wants link):
 *   `recover` before the merge, when a journal exists;
 * - /etc/systemd/system/sysext-agent-rescue.service, started by OnFailure= drop-ins for
 *   systemd-sysext.service and systemd-confext.service;
 * - /var/lib/sysext-agent/boot/run-stored.sh, which both run: it starts the agent from its stored
 *   images, mounted read-only in a private mount namespace under /run.
 *
 * The texts are systemd-units/boot/ and scripts/sysext/run-stored.sh: read from the checkout, or
 * embedded by the bundler (SYSEXT_AGENT_BOOT_FILES) in the agent's own image. Files are written
 * only when their content differs (a poll that finds nothing new stays free of writes), each
 * atomically.
 */
import { lstat, mkdir, readFile, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { switchSymlink, writeFileAtomic } from '../store/atomic.ts';

declare const SYSEXT_AGENT_BOOT_FILES: Record<string, string> | undefined;

/** Source (relative to the project) -> where it goes (relative to the host's root) and mode. */
export const BOOT_FILES = [
  {
    source: 'systemd-units/boot/sysext-agent-boot-recover.service',
    target: 'etc/systemd/system/sysext-agent-boot-recover.service',
    mode: 0o644,
  },
  {
    source: 'systemd-units/boot/sysext-agent-rescue.service',
    target: 'etc/systemd/system/sysext-agent-rescue.service',
    mode: 0o644,
  },
  {
    source: 'systemd-units/boot/sysext-agent-rescue.conf',
    target: 'etc/systemd/system/systemd-sysext.service.d/sysext-agent-rescue.conf',
    mode: 0o644,
  },
  {
    source: 'systemd-units/boot/sysext-agent-rescue.conf',
    target: 'etc/systemd/system/systemd-confext.service.d/sysext-agent-rescue.conf',
    mode: 0o644,
  },
  {
    source: 'scripts/sysext/run-stored.sh',
    target: 'var/lib/sysext-agent/boot/run-stored.sh',
    mode: 0o755,
  },
] as const;

/** `systemctl enable` of the recover unit, done by hand: no manager may be running (--root). */
const WANTS_LINK = {
  link: 'etc/systemd/system/sysinit.target.wants/sysext-agent-boot-recover.service',
  target: '../sysext-agent-boot-recover.service',
};

/** The texts of BOOT_FILES by source: embedded in the bundle, else read from the checkout. */
export async function bootFileTexts(): Promise<Record<string, string>> {
  if (typeof SYSEXT_AGENT_BOOT_FILES === 'object') return SYSEXT_AGENT_BOOT_FILES;
  const texts: Record<string, string> = {};
  for (const { source } of BOOT_FILES) {
    // src/self/ and dist/self/ are both two levels below the project.
    texts[source] = await readFile(new URL(`../../${source}`, import.meta.url), 'utf8');
  }
  return texts;
}

async function differs(file: string, text: string): Promise<boolean> {
  const now = await readFile(file, 'utf8').catch(() => undefined);
  return now !== text;
}

async function linkDiffers(link: string, target: string): Promise<boolean> {
  const st = await lstat(link).catch(() => undefined);
  if (!st) return true;
  return !st.isSymbolicLink() || (await readlink(link)) !== target;
}

/** Every path installBootHooks writes (an input of the poll record, src/poll/keep.ts). */
export function bootHookPaths(paths: HostPaths): string[] {
  return [...BOOT_FILES.map((f) => f.target), WANTS_LINK.link].map((p) => join(paths.root, p));
}

/** Writes what is missing or different; returns the paths written (relative to the root). */
export async function installBootHooks(paths: HostPaths, log: Logger): Promise<string[]> {
  const texts = await bootFileTexts();
  const written: string[] = [];
  try {
    for (const f of BOOT_FILES) {
      const text = texts[f.source];
      if (text === undefined) throw new Error(`no text for ${f.source}`);
      const file = join(paths.root, f.target);
      if (!(await differs(file, text))) continue;
      await mkdir(dirname(file), { recursive: true });
      await writeFileAtomic(file, text, f.mode);
      written.push(f.target);
    }
    const link = join(paths.root, WANTS_LINK.link);
    if (await linkDiffers(link, WANTS_LINK.target)) {
      await mkdir(dirname(link), { recursive: true });
      await switchSymlink(link, WANTS_LINK.target);
      written.push(WANTS_LINK.link);
    }
  } catch (err) {
    // /etc may be read-only (a merged confext, an immutable /etc): the update itself is fine,
    // only recovery before the merge is missing until the hooks can be placed.
    throw new AgentError(
      'IO',
      `cannot install the boot-time recovery and rescue hooks (${(err as Error).message}); place them by provisioning (docs/bootstrap.md)`,
      { cause: err },
    );
  }
  if (written.length > 0)
    log.info({ files: written }, `installed the agent's boot-time hooks: ${written.join(', ')}`);
  return written;
}
