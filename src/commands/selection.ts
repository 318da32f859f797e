/**
 * What `check` and `update` plan from: the extensions asked for (NAME, or NAME@VERSION for
 * exactly that version), this host as systemd sees it, and the state; then the plan itself.
 */
import { AgentError } from '../errors.ts';
import { readHostFacts, type HostFacts } from '../host/facts.ts';
import type { ManifestPayload } from '../manifest/schema.ts';
import { plan, type PlanItem } from '../plan/plan.ts';
import { currentVersion, quarantineOf } from '../plan/state-ops.ts';
import type { AgentState } from '../store/state.ts';
import { didYouMean } from '../util/suggest.ts';
import { isValidName, isValidVersion } from '../version/syntax.ts';
import type { HostPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { SystemdPort } from '../systemd/port.ts';
import type { AgentContext } from './context.ts';

export interface Selection {
  names: string[];
  /** The names were given on the command line (not every configured extension). */
  named: boolean;
  /** NAME@VERSION given on the command line. */
  explicit: Map<string, string>;
}

/**
 * A name the agent knows nothing about: not configured here and (for the commands that act on
 * what is installed) not in its state either. The same code and exit (2, usage) for every
 * command, since it is a mistake on the command line, whatever the command.
 */
export function unknownExtension(
  name: string,
  configured: readonly string[],
  installed?: readonly string[],
): AgentError {
  const known = [...new Set([...configured, ...(installed ?? [])])].sort();
  const where = installed === undefined ? 'not configured' : 'neither configured nor installed';
  return new AgentError(
    'USAGE',
    `extension "${name}" is ${where} on this host${didYouMean(name, known)} (known: ${known.join(', ') || 'none'})`,
  );
}

/**
 * A name from the command line passes the same rules as one from a manifest (PRODUCT.md
 * section 3) before it is looked up or joined into a path: `remove ../../etc` or `rollback ""`
 * is a usage error (exit 2), whatever the state says.
 */
export function checkName(name: string, arg = name): string {
  if (!isValidName(name))
    throw new AgentError(
      'USAGE',
      `"${arg}": ${JSON.stringify(name)} is not a valid extension name (letters, digits, ".", "+", "-"; no "_" or "/"; at most 128 characters)`,
    );
  return name;
}

/** Every argument a name (checkName). */
export function checkNames(args: readonly string[]): string[] {
  return args.map((a) => checkName(a));
}

/** NAME or NAME@VERSION, each checked against the rules (USAGE otherwise). */
export function parseTarget(arg: string): { name: string; version?: string } {
  const at = arg.indexOf('@');
  const name = checkName(at < 0 ? arg : arg.slice(0, at), arg);
  if (at < 0) return { name };
  const version = arg.slice(at + 1);
  if (!isValidVersion(version))
    throw new AgentError('USAGE', `"${arg}": ${JSON.stringify(version)} is not a valid version`);
  return { name, version };
}

export function selectTargets(ctx: AgentContext, args: readonly string[]): Selection {
  const configured = Object.keys(ctx.config.extensions);
  const explicit = new Map<string, string>();
  const names: string[] = [];
  for (const arg of args) {
    const { name, version } = parseTarget(arg);
    if (!configured.includes(name)) throw unknownExtension(name, configured);
    if (version !== undefined) explicit.set(name, version);
    if (!names.includes(name)) names.push(name);
  }
  return { names: names.length > 0 ? names : configured, named: names.length > 0, explicit };
}

export interface Planned {
  items: PlanItem[];
  facts: HostFacts;
}

/** Where a plan is made: the host's paths, its configuration (pins) if any, its systemd. */
export interface PlanHost {
  paths: HostPaths;
  config: Pick<Config, 'extensions'> | null;
  systemd: SystemdPort;
}

export function planHostOf(ctx: AgentContext): PlanHost {
  return { paths: ctx.paths, config: ctx.config, systemd: ctx.ports.systemd };
}

export async function planFor(
  where: PlanHost,
  state: AgentState,
  payload: ManifestPayload,
  selection: Selection,
  allowQuarantined = false,
): Promise<Planned> {
  const facts = await readHostFacts(where.paths, where.systemd);
  const extensions = where.config?.extensions ?? {};
  const items = plan({
    names: selection.names,
    manifest: payload,
    current: (n) => currentVersion(state, n),
    quarantined: (n) => quarantineOf(state, n),
    allowQuarantined,
    host: facts.release,
    machineId: facts.machineId,
    pin: (n) => (Object.hasOwn(extensions, n) ? extensions[n]?.pin : undefined),
    explicit: (n) => selection.explicit.get(n),
  });
  return { items, facts };
}

/**
 * What the command line asked for and cannot be had: a named extension the manifest lacks,
 * NAME@VERSION not in the manifest or not mergeable here.
 */
export function checkAsked(items: readonly PlanItem[], selection: Selection): void {
  const missing = selection.named ? items.filter((i) => i.action === 'missing') : [];
  if (missing.length > 0)
    throw new AgentError(
      'NOT_IN_MANIFEST',
      `not in the manifest: ${missing.map((i) => i.name).join(', ')}`,
    );
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
