/**
 * Writes the metrics textfile after a run: the previous file's run history plus this run, and
 * the state now (state.json), replaced atomically (temp file in the same directory, fsync,
 * rename), so node_exporter's textfile collector never reads half a file. The temp file is
 * `.NAME.PID.RANDOM.tmp`: hidden, and not `*.prom`, so the collector never picks it up.
 */
import { readFile } from 'node:fs/promises';
import type { HostPaths } from '../config/paths.ts';
import { writeFileAtomic } from '../store/atomic.ts';
import { readState, type AgentState } from '../store/state.ts';
import {
  addRun,
  formatMetrics,
  parseRuns,
  type MetricsSnapshot,
  type RunSample,
} from './format.ts';

async function previousText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function fromState(state: AgentState | null): Pick<MetricsSnapshot, 'installed' | 'manifest'> {
  if (!state) return { installed: {}, manifest: null };
  const installed: MetricsSnapshot['installed'] = {};
  for (const [name, e] of Object.entries(state.extensions)) {
    installed[name] = { kind: e.kind, current: e.current, quarantined: e.quarantined.length };
  }
  const expires = state.manifest ? Date.parse(state.manifest.expires) / 1000 : NaN;
  return {
    installed,
    manifest: state.manifest ? { serial: state.manifest.serial, expires } : null,
  };
}

export interface RecordedRun {
  command: string;
  run: RunSample;
  /** The extensions the run was about (named, or every configured one). */
  scope: readonly string[];
}

export async function writeMetrics(
  file: string,
  paths: HostPaths,
  { command, run, scope }: RecordedRun,
): Promise<void> {
  const runs = addRun(parseRuns(await previousText(file)), command, run, scope);
  // A state that cannot be read (corrupt, unreadable) leaves the state metrics out, not the run.
  const state = await readState(paths.stateFile).catch(() => null);
  await writeFileAtomic(file, formatMetrics({ ...runs, ...fromState(state) }), 0o644);
}
