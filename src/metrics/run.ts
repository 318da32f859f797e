/**
 * The one hook of the metrics file: `metered(command, fn)` is `runner(fn)` (../cli/action.ts)
 * that, after the run (success or failure, an exit code or a thrown error), writes the
 * configured `metrics` file (under --root when given). The configuration is read again here,
 * so commands without a context (rescue) are covered too; without a readable configuration or
 * without `metrics` nothing is written. A run that found the lock taken did nothing and writes
 * nothing (the instance holding it writes when it ends). Failing to write is a warning: it
 * never changes the run's exit code.
 */
import type { Logger } from 'pino';
import { runner, type CommandOptions } from '../cli/action.ts';
import { AgentError, exitCodeFor } from '../errors.ts';
import { received } from '../net/meter.ts';

type Action = (opts: CommandOptions, log: Logger, args: string[]) => Promise<number>;

/** The extensions a run was about: the names given (NAME@VERSION as NAME), else all configured. */
function scopeOf(args: readonly string[], configured: readonly string[]): string[] {
  const named = args.map((a) => a.split('@')[0] ?? a).filter((n) => configured.includes(n));
  return args.length > 0 ? named : [...configured];
}

async function record(
  command: string,
  opts: CommandOptions,
  log: Logger,
  args: readonly string[],
  started: number,
  exitCode: number,
  perExtension: boolean,
): Promise<void> {
  try {
    const [{ existsSync }, { hostPaths, underRoot }, { loadConfig }] = await Promise.all([
      import('node:fs'),
      import('../config/paths.ts'),
      import('../config/load.ts'),
    ]);
    const paths = hostPaths(opts.root ?? '/');
    const configFile = opts.config ?? paths.configFile;
    if (opts.config === undefined && !existsSync(configFile)) return;
    const config = await loadConfig(configFile).catch(() => null);
    if (!config?.metrics) return;
    const { writeMetrics } = await import('./write.ts');
    const file = underRoot(paths, config.metrics);
    const ended = Date.now();
    await writeMetrics(file, paths, {
      command,
      run: {
        at: ended / 1000,
        durationSec: (ended - started) / 1000,
        exitCode,
        downloadedBytes: received.bytes,
      },
      scope: perExtension ? scopeOf(args, Object.keys(config.extensions)) : [],
    });
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      `cannot write the metrics file: ${(err as Error).message}`,
    );
  }
}

/** Commands about extensions: each extension in scope gets its last run too. */
const PER_EXTENSION = new Set(['check', 'update', 'rollback', 'remove']);

/** `runner(fn)` that records the run in the metrics file. */
export function metered(command: string, fn: Action): ReturnType<typeof runner> {
  const perExtension = PER_EXTENSION.has(command);
  return runner(async (opts, log, args) => {
    const started = Date.now();
    let exitCode: number;
    try {
      exitCode = await fn(opts, log, args);
    } catch (err) {
      if (!(err instanceof AgentError && err.code === 'LOCKED')) {
        const code = err instanceof AgentError ? exitCodeFor(err.code) : exitCodeFor('IO');
        await record(command, opts, log, args, started, code, perExtension);
      }
      throw err;
    }
    await record(command, opts, log, args, started, exitCode, perExtension);
    return exitCode;
  });
}
