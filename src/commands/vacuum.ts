/**
 * `vacuum`: delete stored versions that are quarantined and were never current (they never
 * worked here), then those beyond `keep` (never current or previous), and partial
 * downloads that can no longer be wanted: of extensions not configured or not newer than what
 * is current. Partial downloads of newer versions stay, to be resumed.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteStored, listStored } from '../store/images.ts';
import { readState } from '../store/state.ts';
import { compareVersions } from '../version/compare.ts';
import { parsePartialFileName } from '../store/layout.ts';
import type { AgentContext } from './context.ts';
import { quarantinedNeverActivated, versionsBeyondKeep } from '../plan/retention.ts';

export interface VacuumReport {
  /** Beyond `keep`. */
  deleted: { name: string; version: string }[];
  /** Quarantined and never current: why each was quarantined. */
  quarantinedDeleted: { name: string; version: string; reason: string }[];
  partialsDeleted: string[];
}

export async function runVacuum(ctx: AgentContext): Promise<VacuumReport> {
  const state = await readState(ctx.paths.stateFile);
  const deleted: VacuumReport['deleted'] = [];
  const quarantinedDeleted: VacuumReport['quarantinedDeleted'] = [];
  for (const name of await readdir(ctx.paths.imagesDir).catch(() => [] as string[])) {
    const ext = state.extensions[name];
    const quarantine = ext?.quarantined ?? [];
    const never = quarantinedNeverActivated(
      await listStored(ctx.paths, name),
      ext?.current ?? null,
      ext?.previous ?? null,
      quarantine,
    );
    for (const version of never) {
      await deleteStored(ctx.paths, name, version);
      const reason = quarantine.find((q) => q.version === version)?.reason ?? '';
      quarantinedDeleted.push({ name, version, reason });
    }
    const doomed = versionsBeyondKeep(
      await listStored(ctx.paths, name),
      ext?.current ?? null,
      ext?.previous ?? null,
      ctx.config.keep,
    );
    for (const version of doomed) {
      await deleteStored(ctx.paths, name, version);
      deleted.push({ name, version });
    }
  }
  const partialsDeleted: string[] = [];
  for (const file of await readdir(ctx.paths.partialDir).catch(() => [] as string[])) {
    const parsed = parsePartialFileName(file);
    const current = parsed ? state.extensions[parsed.name]?.current : undefined;
    const wanted =
      parsed !== undefined &&
      Object.hasOwn(ctx.config.extensions, parsed.name) &&
      (current === undefined || current === null || compareVersions(parsed.version, current) > 0);
    if (!wanted) {
      await rm(join(ctx.paths.partialDir, file), { force: true });
      partialsDeleted.push(file);
    }
  }
  return { deleted, quarantinedDeleted, partialsDeleted };
}

export function formatVacuum(report: VacuumReport): string {
  const lines = [
    ...report.quarantinedDeleted.map(
      (d) => `deleted ${d.name} ${d.version} (quarantined, never current: ${d.reason})`,
    ),
    ...report.deleted.map((d) => `deleted ${d.name} ${d.version} (beyond keep)`),
    ...report.partialsDeleted.map((p) => `deleted partial download ${p}`),
  ];
  return lines.length > 0 ? lines.join('\n') : 'nothing to delete';
}
