/**
 * One log event as one line of text, for a person or for the journal (PRODUCT.md section 5):
 * the message, then the fields worth keeping as `key=value`. No time, no pid: a terminal does
 * not need them, and the journal records its own (`journalctl -o verbose` shows them).
 * A multi-line message is folded onto the line, so an event can never be split into several
 * journal entries of which only the first carries its priority.
 */
import { LEVEL_NUMBER, priorityPrefix } from './journal.ts';

export type LineStyle = 'human' | 'journal';

/** A pino record as it is serialized: `level`, `msg` and the fields of the call. */
export type LogRecord = { level: number; msg?: unknown } & Record<string, unknown>;

/** pino's own bookkeeping and what the journal records by itself. */
const OMITTED = new Set(['level', 'msg', 'time', 'pid', 'hostname']);

/** Objects nested deeper than this are cut (`key=...`): a log line is not a dump. */
const MAX_DEPTH = 3;

export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' | ').trim();
}

function scalar(value: unknown): string {
  const text = oneLine(typeof value === 'string' ? value : String(value));
  // Bare when unambiguous; quoted (JSON string rules) when it has spaces, quotes or `=`.
  return text !== '' && !/[\s"=]/.test(text) ? text : JSON.stringify(text);
}

/** A serialized error (pino's `err` serializer: type, message, stack, code): its message only. */
function isSerializedError(value: unknown): value is { message: string; code?: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string' &&
    'stack' in value
  );
}

function fields(key: string, value: unknown, depth: number, out: string[]): void {
  if (value === undefined) return;
  if (isSerializedError(value)) {
    // Never a stack trace: an AgentError's message names the cause (test/errors.test.ts).
    const code = typeof value.code === 'string' ? ` (${value.code})` : '';
    out.push(`${key}=${scalar(value.message + code)}`);
  } else if (Array.isArray(value) && !value.some((v) => typeof v === 'object' && v !== null)) {
    out.push(`${key}=${scalar(value.join(', '))}`);
  } else if (typeof value === 'object' && value !== null) {
    if (depth >= MAX_DEPTH) out.push(`${key}=...`);
    else for (const [k, v] of Object.entries(value)) fields(`${key}.${k}`, v, depth + 1, out);
  } else {
    out.push(`${key}=${scalar(value)}`);
  }
}

function labelOf(level: number): string {
  if (level >= LEVEL_NUMBER.error) return 'error: ';
  if (level >= LEVEL_NUMBER.warn) return 'warning: ';
  if (level >= LEVEL_NUMBER.info) return '';
  return 'debug: ';
}

/** A scalar field the message already says (as a whole word): it would only repeat it. */
function saidIn(message: string, value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  const text = String(value);
  if (text === '') return false;
  const at = message.indexOf(text);
  if (at < 0) return false;
  const word = /[A-Za-z0-9_]/;
  const before = message[at - 1];
  const after = message[at + text.length];
  return (before === undefined || !word.test(before)) && (after === undefined || !word.test(after));
}

/** The line for one record, without its newline. */
export function formatRecord(record: LogRecord, style: LineStyle): string {
  const parts: string[] = [];
  const message = record.msg === undefined ? '' : oneLine(String(record.msg));
  if (message !== '') parts.push(message);
  for (const [key, value] of Object.entries(record))
    if (!OMITTED.has(key) && !saidIn(message, value)) fields(key, value, 1, parts);
  const text = parts.join(' ');
  return style === 'journal'
    ? `${priorityPrefix(record.level)}${text}`
    : `sysext-agent: ${labelOf(record.level)}${text}`;
}
