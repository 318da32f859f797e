/**
 * The health-check runner against real processes (/bin/sh): verdicts and details, environment,
 * timeouts, no surviving process of a check, flat memory under a flood of output, start
 * failures, and the agent's own SIGTERM/SIGINT taking the check down with it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHealthRunner } from '../../src/health/runner.ts';
import type { HealthRequest } from '../../src/health/runner.ts';

const RUNNER_PATH = new URL('../../src/health/runner.ts', import.meta.url).pathname;
const runner = createHealthRunner();
let dir: string;
let pidFiles: string[] = [];

/** `sh -c SCRIPT sh PIDFILE`: scripts write the PIDs they start to "$1". */
function check(script: string, timeoutSec = 60): { req: HealthRequest; pidFile: string } {
  const pidFile = join(dir, `pids-${pidFiles.length}`);
  pidFiles.push(pidFile);
  const req = {
    name: 'hello',
    version: '1.2.3',
    root: '/tmp/some-root',
    argv: ['/bin/sh', '-c', script, 'sh', pidFile],
    timeoutSec,
  };
  return { req, pidFile };
}

async function pidsIn(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** Alive = has a /proc entry that is not a zombie (a killed orphan may wait briefly for init). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function expectAllGone(pids: number[]): Promise<void> {
  await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 5000, interval: 50 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'health-runner-'));
});

afterEach(async () => {
  // A failed test must not leave its sleeps behind.
  for (const file of pidFiles)
    for (const pid of await pidsIn(file)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  pidFiles = [];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('health check runner', () => {
  it('passes on exit 0 and removes its signal listeners afterwards', async () => {
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    const { req } = check('echo fine; exit 0');
    expect(await runner.run(req)).toEqual({ ok: true, detail: 'health check passed' });
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual(before);
  });

  it('fails with the exit code and the trimmed tail of stdout and stderr', async () => {
    const { req } = check('seq 1 200000; echo "LAST WORDS" >&2; exit 7');
    const result = await runner.run(req);
    expect(result.ok).toBe(false);
    const prefix = `health check ${JSON.stringify(req.argv)} failed (exit 7): `;
    expect(result.detail.startsWith(prefix)).toBe(true);
    const tail = result.detail.slice(prefix.length);
    expect(tail.endsWith('199999\n200000\nLAST WORDS')).toBe(true);
    expect(tail.length).toBeLessThanOrEqual(500);
  });

  it('gives the check the agent environment plus extension, version and root', async () => {
    process.env.HEALTH_RUNNER_TEST_INHERITED = 'inherited';
    try {
      const { req } = check(
        'echo "$SYSEXT_AGENT_EXTENSION|$SYSEXT_AGENT_VERSION|$SYSEXT_AGENT_ROOT|$HEALTH_RUNNER_TEST_INHERITED"; exit 3',
      );
      const result = await runner.run(req);
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/\(exit 3\): hello\|1\.2\.3\|\/tmp\/some-root\|inherited$/);
    } finally {
      delete process.env.HEALTH_RUNNER_TEST_INHERITED;
    }
  });

  it('times out, and kills the whole process group', { timeout: 15_000 }, async () => {
    const { req, pidFile } = check('echo $$ > "$1"; sleep 900 & echo $! >> "$1"; wait', 1);
    const result = await runner.run(req);
    expect(result).toEqual({
      ok: false,
      detail: `health check ${JSON.stringify(req.argv)} timed out after 1s`,
    });
    const pids = await pidsIn(pidFile);
    expect(pids).toHaveLength(2);
    await expectAllGone(pids);
  });

  it('escalates to SIGKILL when the check ignores SIGTERM', { timeout: 15_000 }, async () => {
    const script = 'trap "" TERM; echo $$ > "$1"; sleep 900 & echo $! >> "$1"; echo started; wait';
    const { req, pidFile } = check(script, 0.5);
    const result = await runner.run(req);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timed out after 0\.5s: started$/);
    const pids = await pidsIn(pidFile);
    expect(pids).toHaveLength(2);
    await expectAllGone(pids);
  });

  it('returns at once when a passing check leaves background processes', async () => {
    // One sleep holds the output pipes, the other let go of them; neither may survive.
    const script =
      'sleep 900 & echo $! > "$1"; sleep 900 >/dev/null 2>&1 & echo $! >> "$1"; exit 0';
    const { req, pidFile } = check(script);
    expect(await runner.run(req)).toEqual({ ok: true, detail: 'health check passed' });
    const pids = await pidsIn(pidFile);
    expect(pids).toHaveLength(2);
    await expectAllGone(pids);
  });

  it('does not wait for pipes held by a process that left the group', async () => {
    // setsid escapes the process group, so it cannot be killed with it; only the wait is bounded.
    const { req, pidFile } = check('setsid sleep 900 & echo $! > "$1"; exit 0');
    expect(await runner.run(req)).toEqual({ ok: true, detail: 'health check passed' });
    expect(await pidsIn(pidFile)).toHaveLength(1); // killed by afterEach
  });

  it('keeps memory flat while a check prints 300 MB', { timeout: 60_000 }, async () => {
    const { req } = check('head -c 300000000 /dev/zero');
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      expect(await runner.run(req)).toEqual({ ok: true, detail: 'health check passed' });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(peak - base).toBeLessThan(100 * 1024 * 1024);
  });

  it('reports a missing executable without throwing', async () => {
    const argv = ['/nonexistent/health-probe', '--selftest'];
    const result = await runner.run({ ...check('').req, argv });
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('health check ["/nonexistent/health-probe","--selftest"]');
    expect(result.detail).toContain('ENOENT');
  });

  it('reports a file that is not executable without throwing', async () => {
    const file = join(dir, 'not-executable');
    await writeFile(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const result = await runner.run({ ...check('').req, argv: [file] });
    expect(result.ok).toBe(false);
    expect(result.detail).toContain(JSON.stringify([file]));
    expect(result.detail).toContain('EACCES');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s to the agent kills the running check, and the agent dies of it',
    { timeout: 20_000 },
    async (signal) => {
      const { req, pidFile } = check('echo $$ > "$1"; sleep 900 & echo $! >> "$1"; wait', 600);
      const script = `import { createHealthRunner } from ${JSON.stringify(RUNNER_PATH)};
await createHealthRunner().run(${JSON.stringify(req)});
console.log('run returned');`;
      const agent = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      agent.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = once(agent, 'exit');
      await vi.waitFor(async () => expect(await pidsIn(pidFile)).toHaveLength(2), {
        timeout: 10_000,
        interval: 50,
      });
      agent.kill(signal);
      const [code, gotSignal] = await exited;
      expect({ code, gotSignal, stdout }).toEqual({ code: null, gotSignal: signal, stdout: '' });
      await expectAllGone(await pidsIn(pidFile));
    },
  );
});
