/**
 * An entry of the agent's own making that does not merge: its version is quarantined, and a
 * stored stand-in (previous) that passes its own trial merge takes its place; with none, the
 * extension is deactivated. For the agent's own extensions a stand-in matters most: without
 * one the host has no agent after the next refresh. Links are switched first, state.json is
 * written after (atomically): cut off in between, the next rescue sees the links on the
 * stand-in, and `standIns` still finds it.
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { extensionDir } from '../config/paths.ts';
import { previousBelow } from '../plan/effects.ts';
import { ensureExtensionState, quarantine, setResult } from '../plan/state-ops.ts';
import { activate, deactivate } from '../store/activation.ts';
import { listStored } from '../store/images.ts';
import { storedImage } from '../store/layout.ts';
import { readState, writeState } from '../store/state.ts';
import type { SystemdPort } from '../systemd/port.ts';
import type { Rescued } from './describe.ts';
import { linkedFiles } from './entries.ts';
import { standIns, type FoundEntry } from './plan.ts';

export interface RescueEnv {
  readonly paths: Readonly<HostPaths>;
  readonly log: Logger;
  /** `--root` as given, passed on to the tool as `--root=`; undefined for the real host. */
  readonly rootOption: string | undefined;
  readonly now: () => Date;
  readonly systemd: SystemdPort;
}

export async function rescueManaged(
  env: RescueEnv,
  entry: FoundEntry,
  broken: string,
  reason: string,
): Promise<Rescued> {
  const { paths, now } = env;
  const { kind, name } = entry;
  const state = await readState(paths.stateFile);
  const stored = await listStored(paths, name);
  const known = state.extensions[name];
  const ext = ensureExtensionState(state, name, kind);
  // State lost or never written: the link says what is current; the store, what came before.
  if (!known) ext.previous = previousBelow(stored, broken, []);
  const candidates = standIns(ext, broken);
  quarantine(ext, broken, `does not merge (rescue): ${reason}`, now());
  const base = { kind, name, entry: `${entry.dir}/${entry.file}`, version: broken, reason };
  // Sidecars only when the broken version had them: the host's kernel may lack dm-verity.
  const withSidecars = entry.sidecars.includes(`${name}.roothash`);
  const dir = extensionDir(paths, kind);
  for (const version of candidates) {
    const s = storedImage(paths, name, version);
    if (!existsSync(s.image)) continue;
    const sidecars = withSidecars && existsSync(s.rootHashFile) && existsSync(s.hashFile);
    const files = linkedFiles(
      dir,
      name,
      s.image,
      sidecars ? { rootHash: s.rootHashFile, verity: s.hashFile } : null,
    );
    const trial = await env.systemd.trialMerge({
      kind,
      root: env.rootOption,
      only: { dir, files },
    });
    if (!trial.ok) {
      env.log.warn(
        { name, version, reason: trial.detail },
        `${name} ${version} cannot stand in: it does not merge either`,
      );
      continue;
    }
    await activate(paths, kind, name, version, sidecars);
    ext.current = version;
    ext.previous = previousBelow(
      stored,
      version,
      ext.quarantined.map((q) => q.version),
    );
    setResult(ext, 'rescue', false, now(), `${broken} did not merge; ${version} is active instead`);
    await writeState(paths.stateFile, state);
    return { ...base, action: 'switched-to-previous', switchedTo: version };
  }
  await deactivate(paths, kind, name);
  ext.current = null;
  setResult(ext, 'rescue', false, now(), `${broken} did not merge; deactivated`);
  await writeState(paths.stateFile, state);
  return { ...base, action: 'deactivated' };
}
