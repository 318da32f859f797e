/**
 * Runs an extension's health check (PRODUCT.md section 4: exit 0 = healthy) within bounded time
 * and memory, and leaves no process of the check behind.
 *
 * node:child_process rather than execa: execa's result promise settles only after stdout and
 * stderr reach EOF, so a background child holding the pipes keeps it pending forever, and its
 * kill and timeout target one PID, not the check's process group. Here the main process's `exit`
 * decides, the whole group is killed, and the pipes get only a short grace.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { within } from '../util/within.ts';
import { outputSink, type OutputSink } from './output.ts';

export interface HealthRequest {
  name: string; // extension name
  version: string;
  root: string; // host root ("/" or --root dir)
  argv: readonly string[]; // non-empty command line
  timeoutSec: number; // may be fractional
}
export interface HealthResult {
  ok: boolean;
  detail: string;
}
export interface HealthRunner {
  run(req: HealthRequest): Promise<HealthResult>;
}

const TAIL_BYTES = 4096; // output kept for the detail; the rest is dropped as it arrives
const DETAIL_CHARS = 500;
const KILL_GRACE_MS = 2000; // between SIGTERM and SIGKILL on timeout
const EOF_GRACE_MS = 500; // for pipes to drain once every process of the group is dead
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once above this
const AGENT_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

type Exit = { code: number | null; signal: NodeJS.Signals | null };
type Guard = { pid: number | undefined; remove(): void };

export function createHealthRunner(): HealthRunner {
  return { run: runCheck };
}

async function runCheck(req: HealthRequest): Promise<HealthResult> {
  const label = `health check ${JSON.stringify(req.argv)}`;
  // Listening before the spawn: a SIGTERM that found no listener would kill the agent at once
  // (default action) and orphan a check that is already running.
  const guard = guardAgentSignals();
  const output = await outputSink(TAIL_BYTES);
  try {
    const child = await start(req, guard, output);
    if (child instanceof Error)
      return { ok: false, detail: `${label} could not be started: ${child.message}` };
    return await supervise(req, label, child, output);
  } finally {
    output.close();
    guard.remove();
  }
}

async function supervise(
  req: HealthRequest,
  label: string,
  child: ChildProcess,
  output: OutputSink,
): Promise<HealthResult> {
  const pid = child.pid as number; // set once 'spawn' fired
  const exited = exitOf(child);
  // Not events.once: its rejection on a late 'error' could go unhandled after the grace.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let exit: Exit | undefined;
  try {
    exit = await within(exited, Math.min(Math.max(req.timeoutSec * 1000, 0), MAX_TIMER_MS));
    if (exit === undefined) {
      killGroup(pid, 'SIGTERM');
      await within(exited, KILL_GRACE_MS);
    }
    // Whatever the main process did, the rest of its group (`sleep 900 &`) must not outlive it.
    killGroup(pid, 'SIGKILL');
    await within(closed, EOF_GRACE_MS);
  } finally {
    // A process that left the group (setsid) may still hold the pipes: stop waiting for EOF.
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  const out = (await output.text(EOF_GRACE_MS)).trim().slice(-DETAIL_CHARS);
  return verdict(label, req.timeoutSec, exit, out);
}

/** Spawns in a new process group; start failures (ENOENT, EACCES) come back as the Error. */
async function start(
  req: HealthRequest,
  guard: Guard,
  output: OutputSink,
): Promise<ChildProcess | Error> {
  const [file, ...args] = req.argv;
  if (file === undefined) return new Error('empty command line');
  try {
    const child = spawn(file, args, {
      detached: true, // own process group (setsid), so the whole check can be killed at once
      stdio: ['ignore', output.stdio, output.stdio],
      env: {
        ...process.env,
        SYSEXT_AGENT_EXTENSION: req.name,
        SYSEXT_AGENT_VERSION: req.version,
        SYSEXT_AGENT_ROOT: req.root,
      },
    });
    guard.pid = child.pid; // synchronously: no signal listener can run before this
    output.attach(child);
    await once(child, 'spawn'); // rejects with the 'error' event if exec failed
    child.on('error', () => {}); // later errors (none expected) must not crash the agent
    return child;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group is already gone.
  }
}

/**
 * While the check runs, SIGTERM/SIGINT to the agent also SIGKILLs the check's group (the agent
 * is about to die, there is no time for a grace). Then, if no one else handles the signal, it is
 * raised again so the agent terminates exactly as it would have without this listener.
 */
function guardAgentSignals(): Guard {
  const guard: Guard = { pid: undefined, remove };
  function remove(): void {
    for (const s of AGENT_SIGNALS) process.off(s, onSignal);
  }
  function onSignal(signal: NodeJS.Signals): void {
    if (guard.pid !== undefined) killGroup(guard.pid, 'SIGKILL');
    remove();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  }
  for (const s of AGENT_SIGNALS) process.on(s, onSignal);
  return guard;
}

function verdict(
  label: string,
  timeoutSec: number,
  exit: Exit | undefined,
  out: string,
): HealthResult {
  const suffix = out ? `: ${out}` : '';
  if (exit === undefined)
    return { ok: false, detail: `${label} timed out after ${timeoutSec}s${suffix}` };
  if (exit.code === 0) return { ok: true, detail: 'health check passed' };
  const how = exit.code !== null ? `exit ${exit.code}` : `signal ${exit.signal}`;
  return { ok: false, detail: `${label} failed (${how})${suffix}` };
}
