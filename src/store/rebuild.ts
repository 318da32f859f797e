/**
 * An empty or corrupt state.json is moved aside and rebuilt from what is on disk (the
 * activation symlinks and the store), with a warning, never a crash. What cannot be recovered
 * from disk (quarantine reasons, the accepted serial) starts empty; the warning says so.
 */
import { readdir, readlink, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { compareVersions, newestVersion } from '../version/compare.ts';
import { emptyRecord } from '../version/own-record.ts';
import { listStored } from './images.ts';
import { activationNameOf, versionOfLinkTarget } from './layout.ts';
import { emptyState, inspectState, isStateProblem, writeState, type AgentState } from './state.ts';

async function activeLinks(dir: string): Promise<{ name: string; version: string }[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const found: { name: string; version: string }[] = [];
  for (const entry of entries) {
    const name = activationNameOf(entry);
    if (name === null) continue;
    const target = await readlink(`${dir}/${entry}`).catch(() => null);
    const version = target === null ? null : versionOfLinkTarget(name, target);
    if (version !== null) found.push({ name, version });
  }
  return found;
}

export async function rebuildState(paths: HostPaths): Promise<AgentState> {
  const state = emptyState();
  for (const kind of ['sysext', 'confext'] as const) {
    const dir = kind === 'sysext' ? paths.sysextDir : paths.confextDir;
    for (const { name, version } of await activeLinks(dir)) {
      const stored = await listStored(paths, name);
      const previous = newestVersion(stored.filter((v) => compareVersions(v, version) < 0)) ?? null;
      state.extensions[name] = {
        kind,
        current: version,
        previous,
        quarantined: [],
        interrupted: emptyRecord(),
        lastResult: null,
      };
    }
  }
  return state;
}

/**
 * Reads state.json; a broken one is moved aside and rebuilt (and written) from disk. A hostile
 * one (names that break the rules: not written by this agent) is refused, STATE_CORRUPT, and
 * nothing is touched: an untrusted tree does not get to have its files moved or rewritten.
 */
export async function loadState(paths: HostPaths, log: Logger): Promise<AgentState> {
  const result = await inspectState(paths.stateFile);
  if (!isStateProblem(result)) return result;
  if (result.hostile) throw result.error;
  const err = result.error;
  const aside = `${paths.stateFile}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(paths.stateFile, aside);
  const state = await rebuildState(paths);
  await writeState(paths.stateFile, state);
  log.warn(
    { moved: aside, reason: err.message, rebuilt: Object.keys(state.extensions) },
    'state.json was corrupt: moved aside and rebuilt from the activation links and the store; quarantine list and accepted serial start empty',
  );
  process.stderr.write(
    `sysext-agent: warning: ${err.message}; moved to ${basename(aside)} in ${dirname(aside)} and rebuilt from disk\n`,
  );
  return state;
}
