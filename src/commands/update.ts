/**
 * `update`: the pipeline of PRODUCT.md section 1 as one transaction. Everything that can fail
 * without touching the host (manifest, downloads, verification) happens before the first
 * switch; after the switch, a failed merge or health check switches every extension of the
 * transaction back (exit 3), and a failed way back is exit 4.
 */
import type { RepositorySource } from '../net/source.ts';
import { deleteStored } from '../store/images.ts';
import { readState, writeState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { fetchTrustedManifest, rememberManifest, type FetchedManifest } from './manifest-source.ts';
import { requireTools } from '../systemd/proof.ts';
import { txEnvFromContext } from '../transaction/env.ts';
import type { PlanItem } from '../plan/plan.ts';
import { exitCodeOf, failedResult, type ExtensionReport } from './report.ts';
import { stageVersion, type Staged } from './stage.ts';
import { runTransaction, type TxOutcome } from '../transaction/run.ts';
import { pruneStore } from './prune.ts';
import { adoptPlaced } from './adopt.ts';
import { recordAccepted } from '../plan/state-ops.ts';
import { refuseKindChanges } from '../plan/kind-change.ts';
import { checkAsked, planFor, planHostOf, selectTargets } from './selection.ts';
import { installBootHooks } from '../self/boot-hooks.ts';
import { OWN_EXTENSIONS } from '../self/own.ts';
import { AgentError } from '../errors.ts';

export interface UpdateOptions {
  names: readonly string[];
  allowQuarantined: boolean;
  /**
   * Called, still under the lock, after a run that had nothing to install or update, with the
   * manifest it planned from (the poll record, src/poll/keep.ts).
   */
  afterQuiet?: (manifest: FetchedManifest, report: UpdateReport) => Promise<void>;
}

export interface UpdateReport {
  exitCode: number;
  manifest: { serial: number; expires: string };
  extensions: Record<string, ExtensionReport>;
}

function reportFor(
  item: PlanItem,
  result: ExtensionReport['result'],
  message?: string,
): ExtensionReport {
  return {
    kind: item.kind,
    from: item.current,
    // keep-current: nothing changes, the current version stays (not a downgrade to the target).
    to: item.action === 'keep-current' ? item.current : item.target,
    action: item.action,
    result,
    ...(message ? { message } : {}),
    ...(item.heldBack.length > 0 ? { heldBack: item.heldBack } : {}),
  };
}

async function stageAll(
  ctx: AgentContext,
  source: RepositorySource,
  manifest: FetchedManifest,
  work: PlanItem[],
): Promise<Staged[]> {
  const staged: Staged[] = [];
  try {
    for (const item of work) {
      if (!item.target || !item.entry) continue;
      staged.push(await stageVersion(ctx, source, manifest, item.name, item.target, item.entry));
    }
    return staged;
  } catch (err) {
    // Bad input leaves the host as it was (promise 3): drop what this run added to the store.
    for (const s of staged.filter((x) => x.added)) await deleteStored(ctx.paths, s.name, s.version);
    throw err;
  }
}

export async function runUpdate(ctx: AgentContext, opts: UpdateOptions): Promise<UpdateReport> {
  const selection = selectTargets(ctx, opts.names);
  const state = await readState(ctx.paths.stateFile);
  const source = await ctx.ports.openSource(ctx.config.network);
  try {
    const manifest = await fetchTrustedManifest(ctx, source, state);
    const summary = { serial: manifest.payload.serial, expires: manifest.payload.expires };
    // A sysext the manifest now calls a confext (or back): refused before anything changes.
    refuseKindChanges(state, manifest.payload, selection.names);
    const adoptions = await adoptPlaced(ctx, state, manifest.payload, selection.names);
    if (adoptions.some((a) => 'adopted' in a)) await writeState(ctx.paths.stateFile, state);
    await ensureBootHooks(ctx);
    const leftAlone = new Map(
      adoptions.flatMap((a) => ('leftAlone' in a ? [[a.name, a.leftAlone] as const] : [])),
    );
    const { items } = await planFor(
      planHostOf(ctx),
      state,
      manifest.payload,
      selection,
      opts.allowQuarantined,
    );
    checkAsked(items, selection);
    // What sits at a left-alone activation path is not ours to replace.
    const work = items.filter(
      (i) => (i.action === 'install' || i.action === 'update') && !leftAlone.has(i.name),
    );
    // Nothing new (304) and nothing to do: one conditional request; nothing is written but the
    // poll record (afterQuiet), which answers the next identical poll.
    if (work.length === 0 && manifest.notModified) {
      const ok = { ok: true, failures: {} };
      const report = { ...buildReport(ctx, items, ok, leftAlone), manifest: summary };
      await opts.afterQuiet?.(manifest, report);
      return report;
    }
    // Before any download: a kind this host cannot merge (no systemd-confext) fails here.
    if (ctx.refresh)
      await requireTools(
        ctx.ports.systemd,
        work.flatMap((i) => (i.kind ? [i.kind] : [])),
      );
    const staged = await stageAll(ctx, source, manifest, work);
    recordAccepted(state, manifest.payload, ctx.now(), manifest.payloadSha256);
    await writeState(ctx.paths.stateFile, state);
    await rememberManifest(ctx, manifest);
    const moves = work.flatMap((i) =>
      i.kind && i.target ? [{ name: i.name, kind: i.kind, from: i.current, to: i.target }] : [],
    );
    const outcome: TxOutcome =
      moves.length > 0
        ? await runTransaction(txEnvFromContext(ctx), state, 'update', moves)
        : { ok: true, failures: {} };
    // Retention after success only: a failed run keeps everything it might need to go back to.
    if (outcome.ok) {
      for (const s of staged) await pruneStore(ctx, state, s.name);
    }
    const report = { ...buildReport(ctx, items, outcome, leftAlone), manifest: summary };
    if (work.length === 0) await opts.afterQuiet?.(manifest, report);
    return report;
  } finally {
    await source.close();
  }
}

/**
 * While the agent's own extensions are configured, the host needs its boot-time recovery and
 * rescue outside any extension (src/self/boot-hooks.ts). A failure to place them is a warning:
 * the update itself is unaffected.
 */
async function ensureBootHooks(ctx: AgentContext): Promise<void> {
  if (!OWN_EXTENSIONS.some((n) => Object.hasOwn(ctx.config.extensions, n))) return;
  try {
    await installBootHooks(ctx.paths, ctx.log);
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    ctx.log.warn(err.message);
  }
}

function buildReport(
  ctx: AgentContext,
  items: PlanItem[],
  outcome: TxOutcome,
  leftAlone: ReadonlyMap<string, string>,
): Omit<UpdateReport, 'manifest'> {
  const extensions: Record<string, ExtensionReport> = {};
  for (const item of items) {
    const base = reportFor(item, 'up-to-date');
    const alone = leftAlone.get(item.name);
    if (alone !== undefined) extensions[item.name] = reportFor(item, 'skipped', alone);
    else if (item.action === 'missing')
      extensions[item.name] = reportFor(item, 'skipped', 'not in the manifest');
    else if (item.action === 'none') extensions[item.name] = base;
    else if (item.action === 'keep-current')
      extensions[item.name] = reportFor(item, 'up-to-date', item.note ?? undefined);
    else if (!outcome.ok) extensions[item.name] = { ...base, ...failedResult(outcome, item.name) };
    else if (!ctx.refresh)
      extensions[item.name] = reportFor(item, 'staged', 'switched; merged at the next refresh');
    else
      extensions[item.name] = reportFor(item, item.action === 'install' ? 'installed' : 'updated');
  }
  return { exitCode: exitCodeOf(outcome), extensions };
}
