/**
 * Steps 7-9 of PRODUCT.md section 1 for a whole transaction: switch every activation symlink,
 * refresh, prove each merge, run health checks; on any failure switch everything back,
 * refresh again, prove the old state, and quarantine the versions that failed.
 */
import type { ExtensionKind } from '../manifest/schema.ts';
import { activate, deactivate } from '../store/activation.ts';
import { storedImage } from '../store/images.ts';
import type { AgentState } from '../store/state.ts';
import type { AgentContext } from './context.ts';
import { runHealthCheck } from './health.ts';
import { mergeProblem, refresh, unmergeProblem } from './merge.ts';
import type { PlanItem } from './plan.ts';
import { ensureExtensionState, quarantine, setResult } from './state-ops.ts';

export interface SwitchOutcome {
  ok: boolean;
  /** Per extension, why its new version failed. */
  failures: Map<string, string>;
  rollbackFailed?: string;
}

interface Move {
  name: string;
  kind: ExtensionKind;
  from: string | null;
  to: string;
}

function kindsOf(moves: Move[]): ExtensionKind[] {
  return [...new Set(moves.map((m) => m.kind))].sort();
}

async function refreshAll(ctx: AgentContext, moves: Move[]): Promise<string | null> {
  for (const kind of kindsOf(moves)) {
    try {
      await refresh({ kind, root: ctx.rootOption });
    } catch (err) {
      return (err as Error).message;
    }
  }
  return null;
}

async function proveNew(ctx: AgentContext, moves: Move[]): Promise<Map<string, string>> {
  const failures = new Map<string, string>();
  const refreshError = await refreshAll(ctx, moves);
  for (const m of moves) {
    const target = { kind: m.kind, root: ctx.rootOption };
    const problem =
      refreshError ??
      (await mergeProblem(target, m.name, storedImage(ctx.paths, m.name, m.to).image));
    if (problem) failures.set(m.name, `${m.name} ${m.to} did not merge: ${problem}`);
  }
  if (failures.size > 0) return failures;
  for (const m of moves) {
    const health = await runHealthCheck(
      m.name,
      m.to,
      ctx.paths.root,
      ctx.config.extensions[m.name],
    );
    ctx.log.info(
      { name: m.name, version: m.to, ok: health.ok, detail: health.detail },
      'health check',
    );
    if (!health.ok) failures.set(m.name, `${m.name} ${m.to}: ${health.detail}`);
  }
  return failures;
}

async function switchBack(ctx: AgentContext, moves: Move[]): Promise<string | undefined> {
  for (const m of moves) {
    if (m.from) await activate(ctx.paths, m.kind, m.name, m.from, ctx.config.veritySidecars);
    else await deactivate(ctx.paths, m.kind, m.name);
  }
  const refreshError = await refreshAll(ctx, moves);
  if (refreshError) return refreshError;
  const problems: string[] = [];
  for (const m of moves) {
    const target = { kind: m.kind, root: ctx.rootOption };
    const problem = m.from
      ? await mergeProblem(target, m.name, storedImage(ctx.paths, m.name, m.from).image)
      : await unmergeProblem(target, m.name);
    if (problem) problems.push(problem);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

export async function applySwitch(
  ctx: AgentContext,
  state: AgentState,
  work: PlanItem[],
): Promise<SwitchOutcome> {
  const moves: Move[] = work.flatMap((i) =>
    i.kind && i.target ? [{ name: i.name, kind: i.kind, from: i.current, to: i.target }] : [],
  );
  for (const m of moves) {
    await activate(ctx.paths, m.kind, m.name, m.to, ctx.config.veritySidecars);
    ctx.log.info({ name: m.name, from: m.from, to: m.to }, 'activation symlink switched');
  }
  const failures = ctx.refresh ? await proveNew(ctx, moves) : new Map<string, string>();
  const now = ctx.now();
  if (failures.size === 0) {
    for (const m of moves) {
      const ext = ensureExtensionState(state, m.name, m.kind);
      ext.previous = m.from ?? ext.previous;
      ext.current = m.to;
      setResult(
        ext,
        m.from ? 'update' : 'install',
        true,
        now,
        ctx.refresh ? `${m.to} merged` : `${m.to} staged`,
      );
    }
    return { ok: true, failures };
  }
  ctx.log.error({ failures: Object.fromEntries(failures) }, 'transaction failed, switching back');
  const rollbackFailed = await switchBack(ctx, moves);
  for (const m of moves) {
    const ext = ensureExtensionState(state, m.name, m.kind);
    const reason = failures.get(m.name);
    if (reason) quarantine(ext, m.to, reason, now);
    setResult(ext, 'update', false, now, reason ?? 'rolled back with the rest of the transaction');
  }
  return { ok: false, failures, ...(rollbackFailed ? { rollbackFailed } : {}) };
}
