/**
 * `unquarantine NAME [VERSION...]` (PRODUCT.md section 5): forget quarantine entries, all of
 * NAME's or the versions named, with their interruption counts, so that the next unattended
 * `update` may take those versions again. Nothing else changes: no download, no switch.
 * A name the agent knows nothing about is a usage error (exit 2, as `update nosuch`); a version
 * that is not quarantined is not: there is nothing to forget, and the report says so (exit 0,
 * like `remove` of something already gone), so that the command can be repeated safely.
 */
import { AgentError } from '../errors.ts';
import { unquarantine } from '../plan/state-ops.ts';
import { readState, writeState } from '../store/state.ts';
import { isValidVersion } from '../version/syntax.ts';
import type { AgentContext } from './context.ts';
import { quarantineHint } from './held-back-text.ts';
import { own } from '../version/own-record.ts';
import { checkName, unknownExtension } from './selection.ts';

export interface UnquarantineReport {
  name: string;
  /** The entries forgotten, as they were. */
  forgotten: { version: string; reason: string; at: string }[];
  /** Versions named that were not quarantined. */
  notQuarantined: string[];
  /** What is still quarantined. */
  quarantined: string[];
}

/** The command line's NAME and VERSIONs against the rules: USAGE (exit 2) before anything. */
export function checkUnquarantineArgs(name: string, versions: readonly string[]): void {
  checkName(name);
  for (const v of versions)
    if (!isValidVersion(v))
      throw new AgentError('USAGE', `${JSON.stringify(v)} is not a valid version`);
}

export async function runUnquarantine(
  ctx: Pick<AgentContext, 'paths' | 'config' | 'log'>,
  name: string,
  versions: readonly string[],
): Promise<UnquarantineReport> {
  checkUnquarantineArgs(name, versions);
  const state = await readState(ctx.paths.stateFile);
  const ext = own(state.extensions, name);
  if (!ext && !Object.hasOwn(ctx.config.extensions, name))
    throw unknownExtension(name, Object.keys(ctx.config.extensions), Object.keys(state.extensions));
  const listed = new Set((ext?.quarantined ?? []).map((q) => q.version));
  const notQuarantined = versions.filter((v) => !listed.has(v));
  const forgotten = ext ? unquarantine(ext, versions.length > 0 ? versions : null) : [];
  if (forgotten.length > 0) {
    await writeState(ctx.paths.stateFile, state);
    for (const q of forgotten)
      ctx.log.info({ name, version: q.version, reason: q.reason }, 'quarantine forgotten');
  }
  return {
    name,
    forgotten: forgotten.map(({ version, reason, at }) => ({ version, reason, at })),
    notQuarantined,
    quarantined: (ext?.quarantined ?? []).map((q) => q.version),
  };
}

export function formatUnquarantine(r: UnquarantineReport): string {
  const lines = r.forgotten.map(
    (q) => `${r.name} ${q.version}: quarantine forgotten (was: ${q.reason}, on ${q.at})`,
  );
  for (const v of r.notQuarantined) lines.push(`note: ${r.name} ${v} was not quarantined`);
  if (r.forgotten.length === 0 && r.notQuarantined.length === 0)
    lines.push(`${r.name}: nothing quarantined`);
  for (const v of r.quarantined)
    lines.push(`${r.name} ${v} is still quarantined (${quarantineHint(r.name, v)})`);
  return lines.join('\n');
}
