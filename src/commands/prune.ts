/** Automatic retention after a successful update: the store keeps `keep` versions per extension. */
import { versionsBeyondKeep } from '../plan/retention.ts';
import { deleteStored, listStored } from '../store/images.ts';
import type { AgentState } from '../store/state.ts';
import type { AgentContext } from './context.ts';

/**
 * Keeps `keep` versions of `name`, never current or previous. It runs after the transaction
 * committed, so a failure here must not turn a successful update into an error: the versions
 * stay for the next run or `vacuum`, and the operator is told.
 */
export async function pruneStore(
  ctx: AgentContext,
  state: AgentState,
  name: string,
): Promise<void> {
  try {
    await prune(ctx, state, name);
  } catch (err) {
    ctx.log.warn(
      { name, err: (err as Error).message },
      'could not remove old versions from the store; the next update or `vacuum` tries again',
    );
  }
}

async function prune(ctx: AgentContext, state: AgentState, name: string): Promise<void> {
  const ext = state.extensions[name];
  if (!ext) return;
  const doomed = versionsBeyondKeep(
    await listStored(ctx.paths, name),
    ext.current,
    ext.previous,
    ctx.config.keep,
  );
  for (const version of doomed) {
    await deleteStored(ctx.paths, name, version);
    ctx.log.info({ name, version }, 'removed from the store (beyond keep)');
  }
}
