/**
 * What `check` and `update` plan from: the extensions asked for (NAME, or NAME@VERSION for
 * exactly that version), this host as systemd sees it, and the state; then the plan itself.
 */
import { AgentError } from '../errors.ts';
import { readHostFacts, type HostFacts } from '../host/facts.ts';
import type { ManifestPayload } from '../manifest/schema.ts';
import { plan, type PlanItem } from '../plan/plan.ts';
import { currentVersion, quarantinedVersions } from '../plan/state-ops.ts';
import type { AgentState } from '../store/state.ts';
import { isValidVersion } from '../version/syntax.ts';
import type { AgentContext } from './context.ts';

export interface Selection {
  names: string[];
  /** NAME@VERSION given on the command line. */
  explicit: Map<string, string>;
}

export function selectTargets(ctx: AgentContext, args: readonly string[]): Selection {
  const configured = Object.keys(ctx.config.extensions);
  const explicit = new Map<string, string>();
  const names: string[] = [];
  for (const arg of args) {
    const at = arg.indexOf('@');
    const name = at < 0 ? arg : arg.slice(0, at);
    if (!configured.includes(name))
      throw new AgentError('USAGE', `extension "${name}" is not configured on this host`);
    if (at >= 0) {
      const version = arg.slice(at + 1);
      if (!isValidVersion(version))
        throw new AgentError('USAGE', `"${arg}": "${version}" is not a valid version`);
      explicit.set(name, version);
    }
    if (!names.includes(name)) names.push(name);
  }
  return { names: names.length > 0 ? names : configured, explicit };
}

export interface Planned {
  items: PlanItem[];
  facts: HostFacts;
}

export async function planFor(
  ctx: AgentContext,
  state: AgentState,
  payload: ManifestPayload,
  selection: Selection,
  allowQuarantined = false,
): Promise<Planned> {
  const facts = await readHostFacts(ctx.paths, ctx.ports.systemd);
  const items = plan({
    names: selection.names,
    manifest: payload,
    current: (n) => currentVersion(state, n),
    quarantined: (n) => quarantinedVersions(state, n),
    allowQuarantined,
    host: facts.release,
    machineId: facts.machineId,
    pin: (n) =>
      Object.hasOwn(ctx.config.extensions, n) ? ctx.config.extensions[n]?.pin : undefined,
    explicit: (n) => selection.explicit.get(n),
  });
  return { items, facts };
}

/** NAME@VERSION that cannot be installed: not in the manifest, or not mergeable here. */
export function checkExplicit(items: readonly PlanItem[], selection: Selection): void {
  for (const [name, version] of selection.explicit) {
    const item = items.find((i) => i.name === name);
    if (!item || item.target === version) continue;
    const held = item.heldBack.find((h) => h.version === version);
    if (!held) throw new AgentError('NOT_IN_MANIFEST', `${name} ${version} is not in the manifest`);
    throw new AgentError(
      'INCOMPATIBLE',
      `${name} ${version} cannot be installed on this host: ${held.reason}`,
    );
  }
}
