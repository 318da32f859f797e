/** Glue between commander and the commands: global options, logger, exit code. */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { createLogger, type GlobalOptions } from './runtime.ts';

export type CommandOptions = GlobalOptions & Record<string, unknown>;

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The exit code the last action asked for; main.ts turns it into the process exit code. */
export const outcome = { exitCode: 0 };

/** The command line of this run, as main() got it (the poll record keeps it). */
export const invocation: { argv: readonly string[] } = { argv: [] };

export function runner(
  fn: (opts: CommandOptions, log: Logger, args: string[]) => Promise<number>,
): (...params: unknown[]) => Promise<void> {
  return async (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    const opts = cmd.optsWithGlobals<CommandOptions>();
    const log = await createLogger({ level: opts.logLevel, format: opts.logFormat });
    outcome.exitCode = await fn(opts, log, cmd.args);
  };
}
