/** Global options, logging and output: what every command gets from the command line. */
import type { Logger } from 'pino';
import { hostPaths, type HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import type { AgentContext } from '../commands/context.ts';
import { defaultPorts } from '../commands/ports.ts';
import { progressFactory } from './progress.ts';

export interface GlobalOptions {
  root?: string;
  config?: string;
  json?: boolean;
  logLevel?: string;
  refresh?: boolean;
  wait?: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export async function createLogger(level = 'info'): Promise<Logger> {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new AgentError('USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  // Synchronous writes to stderr: the process may exit right after the last line.
  const { pino } = await import('pino');
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

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
  return Object.freeze({
    paths,
    config,
    log,
    refresh,
    rootOption: opts.root === undefined ? undefined : paths.root,
    now: () => new Date(),
    ports: defaultPorts(),
    ...(progress ? { progress } : {}),
  });
}

/** Exactly one JSON document on stdout with --json; human text otherwise. */
export function emit(opts: GlobalOptions, doc: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  else {
    const text = human();
    if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}
