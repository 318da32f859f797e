/**
 * The shell script of a trial merge (`./trial.ts` runs it under `unshare -m --propagation
 * private`), built without I/O so that tests can read it. Every mount it makes belongs to that
 * namespace alone and goes away with it; files are never created on the host, only on tmpfs
 * mounts of the namespace.
 */
import { join } from 'node:path';
import type { TrialMerge } from './port.ts';
import { toolFor } from './port.ts';
import { searchDirs, WORKSPACE } from './search-path.ts';

/** Printed right before the tool runs: without it on stderr, the namespace was never set up. */
export const TRIAL_MARKER = 'sysext-agent-trial: running';
/** The exit code of a set-up step that failed (no systemd tool exits with it). */
export const SETUP_FAILED = 97;

/** dash opens only single-digit descriptors; 0-2 are taken. */
const FIRST_FD = 3;
const LAST_FD = 9;

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function tmpfs(dir: string, mode: string): string {
  return `mount -t tmpfs -o mode=${mode} sysext-agent-trial ${shellQuote(dir)}`;
}

/**
 * systemd 252 forks its merge into a child namespace that turns /run into a slave mount and
 * moves the result back through shared propagation: without `/` shared and /run a mount point
 * it merges nothing and still exits 0 (measured). Both are made so here, privately.
 */
function namespaceSetup(): string[] {
  return [
    `fail() { echo "sysext-agent-trial: cannot $1" >&2; exit ${SETUP_FAILED}; }`,
    `mount --make-rshared / || fail 'make / shared'`,
    `mountpoint -q /run || mount --bind /run /run || fail 'make /run a mount point'`,
    `if [ -d ${WORKSPACE} ]; then ${tmpfs(WORKSPACE, '0700')} || fail 'hide ${WORKSPACE}'`,
    `elif [ -d /run/systemd ]; then ${tmpfs('/run/systemd', '0755')} || fail 'hide /run/systemd'; fi`,
  ];
}

/** Hides every search directory, then shows only `only.files` in `only.dir`. */
function showOnly(root: string, only: NonNullable<TrialMerge['only']>, kind: TrialMerge['kind']) {
  const lines: string[] = [];
  const sources = only.files.filter((f) => 'source' in f);
  if (sources.length > LAST_FD - FIRST_FD + 1)
    throw new Error(`a trial shows at most ${LAST_FD - FIRST_FD + 1} files with a source`);
  // Handles on the files first: the directories that hold them are hidden next.
  const fdOf = new Map<string, number>();
  sources.forEach((f, i) => {
    fdOf.set(f.name, FIRST_FD + i);
    lines.push(
      `exec ${FIRST_FD + i}<${shellQuote(f.source)} || fail ${shellQuote(`open ${f.source}`)}`,
    );
  });
  const hidden = [...new Set([...searchDirs(kind).map((d) => join(root, d)), only.dir])];
  for (const dir of hidden) {
    const q = shellQuote(dir);
    lines.push(
      `if [ -d ${q} ]; then ${tmpfs(dir, '0755')} || fail ${shellQuote(`hide ${dir}`)}; fi`,
    );
  }
  for (const f of only.files) {
    const path = shellQuote(join(only.dir, f.name));
    const why = shellQuote(`show ${f.name}`);
    if ('link' in f) {
      lines.push(`ln -s ${shellQuote(f.link)} ${path} || fail ${why}`);
      continue;
    }
    const fd = fdOf.get(f.name) as number;
    const make = f.directory ? `mkdir ${path}` : `: > ${path}`;
    // -c: the source is this process's descriptor, not the path it once had (now hidden).
    lines.push(`${make} && mount -c --bind /proc/self/fd/${fd} ${path} || fail ${why}`);
    lines.push(`exec ${fd}<&-`);
  }
  return lines;
}

export function trialScript(trial: TrialMerge, noReload: boolean): string {
  const tool = toolFor(trial.kind);
  const args = [
    'refresh',
    ...(trial.root ? [`--root=${trial.root}`] : []),
    ...(noReload ? ['--no-reload'] : []),
  ];
  return [
    ...namespaceSetup(),
    ...(trial.only ? showOnly(trial.root ?? '/', trial.only, trial.kind) : []),
    `echo '${TRIAL_MARKER} ${tool}' >&2`,
    `exec ${tool} ${args.map(shellQuote).join(' ')}`,
  ].join('\n');
}
