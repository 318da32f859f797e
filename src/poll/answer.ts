/**
 * The poll that finds nothing new, answered before the agent is loaded (PRODUCT.md section 9).
 * `update` with the same command line, environment, agent and Node as the run that wrote the
 * record (./record.ts), before the record's time is up, with no lock and no transaction
 * journal, every input unchanged (./fingerprint.ts), the next keys document still absent (404)
 * and the manifest not modified (304): the whole agent would read the same inputs, get the
 * same answers and print the same lines, so they are printed from the record. Anything else,
 * including an error of any kind here, returns null and the whole agent runs.
 *
 * It loads only Node's builtins and these few small modules: src/cli/main.ts imports the rest
 * of the agent after this returned null.
 */
import { lstatSync } from 'node:fs';
import { hostPaths } from '../config/paths.ts';
import { resolveLogging } from '../cli/log/create.ts';
import { formatRecord } from '../cli/log/human.ts';
import { LEVEL_NUMBER } from '../cli/log/journal.ts';
import { fingerprint } from './fingerprint.ts';
import { sameAnswers } from './probe.ts';
import { agentIdentity, envInputs, nodeIdentity, readRecord, type PollRecord } from './record.ts';

/** `SYSEXT_AGENT_FAST_POLL=0` turns this off: every run is a whole run. */
export const FAST_POLL_VARIABLE = 'SYSEXT_AGENT_FAST_POLL';

/** The value of a global option as commander reads it (`--opt VALUE` or `--opt=VALUE`). */
export function optionValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return undefined;
    if (a === name) return argv[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

function same<T>(a: T, b: T): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function absent(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Everything but the network: the same invocation, in time, unlocked, and nothing changed. */
function unchanged(r: PollRecord, argv: readonly string[], now: number): boolean {
  return (
    r.agent === agentIdentity() &&
    r.node === nodeIdentity() &&
    same(r.argv, [...argv]) &&
    r.cwd === process.cwd() &&
    same(r.env, envInputs()) &&
    now >= r.writtenAt &&
    now < r.validUntil &&
    r.absent.every(absent) &&
    same(r.fingerprint, fingerprint(r.inputs, r.skip))
  );
}

/** The one log line of an answered poll, in the run's style, when info is logged. */
function logAnswer(argv: readonly string[], r: PollRecord): void {
  const { level, style } = resolveLogging({
    level: optionValue(argv, '--log-level'),
    format: optionValue(argv, '--log-format'),
  });
  if (level === 'silent' || LEVEL_NUMBER[level] > LEVEL_NUMBER.info) return;
  const msg =
    `nothing new: ${r.about}; the repository answered as at the last full run ` +
    `(${new Date(r.writtenAt).toISOString()}) and nothing the plan reads has changed since`;
  const record = { level: LEVEL_NUMBER.info, msg };
  const line =
    style === 'json'
      ? JSON.stringify({ level: record.level, time: Date.now(), pid: process.pid, msg })
      : formatRecord(record, style);
  process.stderr.write(`${line}\n`);
}

/**
 * The exit code of this run when the record answers it (0), else null. Never throws: a record
 * that cannot be used is a reason to run the whole agent, not an error.
 */
export async function answerFromRecord(argv: readonly string[]): Promise<number | null> {
  try {
    if (process.env[FAST_POLL_VARIABLE] === '0' || !argv.includes('update')) return null;
    const paths = hostPaths(optionValue(argv, '--root') ?? '/');
    const r = readRecord(paths.pollRecordFile);
    if (!r || !unchanged(r, argv, Date.now())) return null;
    if (!(await sameAnswers(r.requests, r.timeouts))) return null;
    logAnswer(argv, r);
    process.stdout.write(r.stdout);
    return 0;
  } catch {
    return null;
  }
}
