/** Global options, logging and output: what every command gets from the command line. */
import type { Logger } from 'pino';
import { hostPaths, type HostPaths } from '../config/paths.ts';
import type { AgentContext } from '../commands/context.ts';
import { defaultPorts } from '../commands/ports.ts';
import type { OpenSource } from '../net/source.ts';
import { progressFactory } from './progress.ts';

export interface GlobalOptions {
  root?: string;
  config?: string;
  json?: boolean;
  logLevel?: string;
  /** auto (journal or human, ./log/create.ts), human, journal or json. */
  logFormat?: string;
  refresh?: boolean;
  /** `--wait[=DURATION]` in milliseconds (./host.ts parseWaitOption); true: the default bound. */
  wait?: boolean | number;
}

export { createLogger, LOG_FORMATS, LOG_LEVELS } from './log/create.ts';

export function pathsFor(opts: GlobalOptions): Readonly<HostPaths> {
  return hostPaths(opts.root ?? '/');
}

export async function buildContext(opts: GlobalOptions, log: Logger): Promise<AgentContext> {
  const paths = pathsFor(opts);
  // Loaded on demand: the schema library is not needed by commands without a configuration.
  const { loadConfig } = await import('../config/load.ts');
  const config = await loadConfig(opts.config ?? paths.configFile);
  // With --root the agent prepares an image offline: refresh only when asked (PRODUCT.md section 2).
  const refresh = config.refresh && (opts.root === undefined || opts.refresh === true);
  const progress = await progressFactory(opts);
  const ports = defaultPorts();
  // The repository source logs retries, redirects, resumes and mirror fallbacks to this run's log.
  const openSource: OpenSource = (network, l) => ports.openSource(network, l ?? log);
  return Object.freeze({
    paths,
    config,
    log,
    refresh,
    rootOption: opts.root === undefined ? undefined : paths.root,
    now: () => new Date(),
    ports: { ...ports, openSource },
    ...(progress ? { progress } : {}),
  });
}

/** What emit prints: exactly one JSON document with --json; human text otherwise. */
export function render(opts: GlobalOptions, doc: unknown, human: () => string): string {
  if (opts.json) return JSON.stringify(doc, null, 2) + '\n';
  const text = human();
  return text && !text.endsWith('\n') ? `${text}\n` : text;
}

/** Exactly one JSON document on stdout with --json; human text otherwise. */
export function emit(opts: GlobalOptions, doc: unknown, human: () => string): void {
  const text = render(opts, doc, human);
  if (text) process.stdout.write(text);
}
