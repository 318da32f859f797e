/**
 * The logger of a run (PRODUCT.md section 5): pino underneath (every module logs through its
 * Logger), written to stderr in one of three styles:
 *
 * - `journal`: stderr is the journal (JOURNAL_STREAM, ./journal.ts): each line starts with its
 *   sd-daemon priority, so `journalctl -p err` finds failures; default level info;
 * - `human`: anywhere else (terminal, pipe, file): `sysext-agent: warning: ...`; default level
 *   warn, so an interactive run shows what needs attention and nothing else;
 * - `json`: `--log-format json`, pino's JSON lines (with time and pid); default level info.
 *
 * `--log-format auto` (the default) picks journal or human. Writes are synchronous: the process
 * may exit right after the last line.
 */
import type { DestinationStream, Logger } from 'pino';
import { AgentError } from '../../errors.ts';
import { formatRecord, type LineStyle, type LogRecord } from './human.ts';
import { isJournalStream, LEVEL_NUMBER } from './journal.ts';
import { screen } from './screen.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'human', 'journal', 'json'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
export type OutputStyle = LineStyle | 'json';

export interface LogSettings {
  level?: string | undefined;
  format?: string | undefined;
}

export interface ResolvedLogging {
  level: LogLevel;
  style: OutputStyle;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], option: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new AgentError('USAGE', `${option} must be one of ${allowed.join(', ')}, not "${value}"`);
}

/** The style and level for these options; `journal`: whether stderr is the journal. */
export function resolveLogging(
  settings: LogSettings,
  journal: boolean = isJournalStream(),
): ResolvedLogging {
  const format = oneOf(settings.format ?? 'auto', LOG_FORMATS, '--log-format');
  const style: OutputStyle = format === 'auto' ? (journal ? 'journal' : 'human') : format;
  const level =
    settings.level === undefined
      ? style === 'human'
        ? 'warn'
        : 'info'
      : oneOf(settings.level, LOG_LEVELS, '--log-level');
  return { level, style };
}

/** The logging of this process, once a logger was made: the failure report uses the same. */
let active: { logger: Logger; resolved: ResolvedLogging } | undefined;

export function activeLogging(): ResolvedLogging | undefined {
  return active?.resolved;
}

/**
 * Warnings and errors of this process so far, shown or not: a run that had any does not leave
 * a poll record (src/poll/keep.ts), so that the next run says them again. pino is set to at
 * least warn for this, and what is below the level asked for is dropped here.
 */
let warnings = 0;

export function warningsLogged(): number {
  return warnings;
}

/** pino's JSON lines, turned into one text line each. */
function lineStream(style: LineStyle, out: DestinationStream, shown: number): DestinationStream {
  return {
    write(chunk: string): void {
      const record = JSON.parse(chunk) as LogRecord;
      if (record.level >= LEVEL_NUMBER.warn) warnings++;
      if (record.level < shown) return;
      const line = formatRecord(record, style);
      out.write(`${style === 'human' ? screen.linePrefix() : ''}${line}\n`);
    },
  };
}

/** pino's own JSON lines, as they are (they start with `{"level":N`). */
function jsonStream(out: DestinationStream, shown: number): DestinationStream {
  return {
    write(chunk: string): void {
      const level = Number(/^\{"level":(\d+)/.exec(chunk)?.[1] ?? LEVEL_NUMBER.fatal);
      if (level >= LEVEL_NUMBER.warn) warnings++;
      if (level >= shown) out.write(chunk);
    },
  };
}

/** The level given to pino: the one asked for, or warn if that is quieter. */
function pinoLevel(level: LogLevel): LogLevel {
  return level === 'silent' || LEVEL_NUMBER[level] > LEVEL_NUMBER.warn ? 'warn' : level;
}

function shownFrom(level: LogLevel): number {
  return level === 'silent' ? Infinity : LEVEL_NUMBER[level];
}

export async function createLogger(settings: LogSettings = {}): Promise<Logger> {
  const resolved = resolveLogging(settings);
  const { pino } = await import('pino');
  const stderr = pino.destination({ dest: 2, sync: true });
  const level = pinoLevel(resolved.level);
  const shown = shownFrom(resolved.level);
  const logger =
    resolved.style === 'json'
      ? pino({ level, base: { pid: process.pid } }, jsonStream(stderr, shown))
      : pino({ level, base: null, timestamp: false }, lineStream(resolved.style, stderr, shown));
  active = { logger, resolved };
  return logger;
}

function causesOf(err: Error): Error[] {
  const chain: Error[] = [];
  for (let c = err.cause; c instanceof Error && chain.length < 8; c = c.cause) chain.push(c);
  return chain;
}

/**
 * The one report of a failed command (main.ts), in the run's log style, at error level (`<3>`
 * in the journal). An AgentError's message names the cause: no stack trace, and with
 * `--log-level debug` the chain of causes. An error that is not an AgentError is a bug: its
 * stack comes along (folded onto the line), for the bug report.
 */
export async function reportFailure(err: AgentError, bug?: unknown): Promise<void> {
  const logger = active?.logger ?? (await createLogger());
  const extra: Record<string, unknown> =
    active?.resolved.style === 'json' ? { code: err.code } : {};
  const causes = causesOf(err);
  if (logger.isLevelEnabled('debug') && causes.length > 0)
    extra.cause = causes.map((c) => c.message).join(' <- ');
  if (bug instanceof Error && bug.stack) extra.stack = bug.stack;
  logger.error(extra, err.message);
}
