/**
 * The real systemd edge (execa). Exit codes of systemd-sysext are not proof of a merge
 * (PRODUCT.md promise 4); `./proof.ts` combines the answers given here into one.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { execaLazy } from '../util/exec.ts';
import { toolFor, type MergeTarget, type SystemdPort } from './port.ts';
import { toolCandidates } from './tool-path.ts';
import { trialMerge } from './trial.ts';
import { systemdVersion } from './version.ts';

/**
 * Every call is bounded, so that a wedged mount or a hung tool cannot hold the lock forever: a
 * refresh (unmerge, loop setup and overlay mount of every image) gets minutes, a query seconds.
 * On timeout execa kills the tool (SIGTERM, then SIGKILL) and the call fails like any other.
 */
const REFRESH_TIMEOUT_MS = 300_000;
const QUERY_TIMEOUT_MS = 60_000;

function rootArgs(root: string | undefined): string[] {
  return root ? [`--root=${root}`] : [];
}

async function hasTool(kind: ExtensionKind): Promise<boolean> {
  return Promise.any(toolCandidates(toolFor(kind)).map((f) => access(f, constants.X_OK))).then(
    () => true,
    () => false,
  );
}

async function refresh(target: MergeTarget): Promise<void> {
  const cmd = toolFor(target.kind);
  const execa = await execaLazy();
  const result = await execa(cmd, ['refresh', ...rootArgs(target.root)], {
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: REFRESH_TIMEOUT_MS,
  });
  if (result.failed) {
    const output = String(result.all ?? result.message).trim();
    const how = result.timedOut
      ? `timed out after ${REFRESH_TIMEOUT_MS / 1000}s`
      : `exit ${result.exitCode ?? result.signal ?? '?'}`;
    throw new AgentError('MERGE_FAILED', `${cmd} refresh failed (${how}): ${output.slice(-500)}`);
  }
}

/** `status --json=short` lists one row per hierarchy; `extensions` is "none" when empty. */
function parseStatus(cmd: string, stdout: string): Map<string, string[]> {
  let rows: unknown;
  try {
    rows = JSON.parse(stdout);
  } catch (err) {
    throw new AgentError('MERGE_FAILED', `${cmd} status printed no JSON: ${stdout.slice(0, 200)}`, {
      cause: err,
    });
  }
  if (!Array.isArray(rows))
    throw new AgentError('MERGE_FAILED', `${cmd} status printed an unexpected document`);
  const map = new Map<string, string[]>();
  for (const row of rows as { hierarchy?: unknown; extensions?: unknown }[]) {
    if (typeof row?.hierarchy !== 'string') continue;
    const names = Array.isArray(row.extensions) ? row.extensions.map(String) : [];
    map.set(row.hierarchy, names);
  }
  return map;
}

async function merged(target: MergeTarget): Promise<Map<string, string[]>> {
  const cmd = toolFor(target.kind);
  const execa = await execaLazy();
  const result = await execa(cmd, ['status', '--json=short', ...rootArgs(target.root)], {
    reject: false,
    stdin: 'ignore',
    timeout: QUERY_TIMEOUT_MS,
  });
  if (result.failed)
    throw new AgentError(
      'MERGE_FAILED',
      `${cmd} status failed (exit ${result.exitCode ?? 'signal'}): ${String(result.stderr).trim()}`,
    );
  return parseStatus(cmd, String(result.stdout));
}

async function releaseVisible(target: MergeTarget, name: string): Promise<boolean> {
  const root = target.root ?? '/';
  const dir = target.kind === 'sysext' ? 'usr/lib/extension-release.d' : 'etc/extension-release.d';
  return stat(join(root, dir, `extension-release.${name}`)).then(
    () => true,
    () => false,
  );
}

interface LoopDevice {
  'back-ino'?: number | string | null;
  'back-maj:min'?: string | null;
}

/** st_dev as the kernel's MAJOR:MINOR (glibc's gnu_dev_major/gnu_dev_minor encoding). */
function majMin(dev: number): string {
  return `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
}

async function loopBackedBy(image: string): Promise<boolean> {
  const info = await stat(image);
  const execa = await execaLazy();
  const result = await execa('losetup', ['--json', '--list', '-O', 'NAME,BACK-INO,BACK-MAJ:MIN'], {
    reject: false,
    stdin: 'ignore',
    timeout: QUERY_TIMEOUT_MS,
  });
  // No loop devices at all: losetup prints nothing.
  if (!result.failed && !String(result.stdout).trim()) return false;
  if (result.failed)
    throw new AgentError(
      'MERGE_FAILED',
      `losetup failed: ${String(result.stderr).trim() || result.shortMessage}`,
    );
  let devices: LoopDevice[];
  try {
    devices = (JSON.parse(String(result.stdout)) as { loopdevices: LoopDevice[] }).loopdevices;
  } catch (err) {
    throw new AgentError('MERGE_FAILED', 'losetup printed no JSON', { cause: err });
  }
  const dev = majMin(info.dev);
  return devices.some(
    (d) => Number(d['back-ino']) === info.ino && String(d['back-maj:min'] ?? '').trim() === dev,
  );
}

/** systemd's version: asked once per installed systemd-sysext (./version.ts). */
function version(): Promise<string | null> {
  return systemdVersion();
}

export function systemdTools(): SystemdPort {
  return {
    hasTool,
    refresh,
    merged,
    releaseVisible,
    loopBackedBy,
    version,
    trialMerge: (trial) => trialMerge(trial, version),
  };
}
