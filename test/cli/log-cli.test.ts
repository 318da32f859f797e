/**
 * The CLI's stderr as PRODUCT.md section 5 says: a run whose stderr is the journal (the agent
 * is made to believe so: JOURNAL_STREAM names the device and inode of the file its stderr is
 * redirected into, as systemd sets it for a service) prefixes every line with its sd-daemon
 * priority, so `journalctl -p err` finds the failure; elsewhere human lines; JSON only with
 * `--log-format json`; each failure exactly once.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.ts';

interface Run {
  exitCode: number;
  stdout: string;
  lines: string[];
}

let dir = '';
let n = 0;

/** Runs the CLI with stderr redirected into a file; `journal`: JOURNAL_STREAM names that file. */
async function runInto(args: string[], journal: 'same' | 'other' | 'none'): Promise<Run> {
  const file = join(dir, `stderr-${n++}`);
  await writeFile(file, '');
  const st = statSync(file, { bigint: true });
  const env: Record<string, string> = {};
  if (journal === 'same') env.JOURNAL_STREAM = `${st.dev}:${st.ino}`;
  if (journal === 'other') env.JOURNAL_STREAM = `${st.dev}:${st.ino + 1n}`;
  const fd = openSync(file, 'a');
  try {
    // The descriptor itself is the child's stderr (not a pipe copied into the file), as systemd
    // hands a service its journal stream.
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', fd] });
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    const text = await readFile(file, 'utf8');
    return { exitCode: code ?? -1, stdout, lines: text.split('\n').filter((l) => l !== '') };
  } finally {
    closeSync(fd);
  }
}

/** A repository that answers 503 to everything: a transient failure, retried. */
async function unavailableServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/repo/` };
}

const looksLikeJson = (l: string) => /^(<\d>)?\s*[{[]/.test(l);

describe('CLI log lines on stderr', () => {
  let bare = '';
  let offline = '';
  let unavailable: Server | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-logcli-'));
    bare = join(dir, 'bare');
    await mkdir(bare);
    // A host whose only repository answers 503: retried, then the manifest fetch fails (exit 1).
    offline = join(dir, 'offline');
    const etc = join(offline, 'etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    expect((await runCli(['keygen', '--output', join(etc, 'keys/k')])).exitCode).toBe(0);
    await rm(join(etc, 'keys/k.key'));
    const repo = await unavailableServer();
    unavailable = repo.server;
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({
        repositories: [repo.url],
        extensions: { hello: {} },
        network: { connectTimeoutSec: 1, idleTimeoutSec: 1, attempts: 2, maxTotalSec: 10 },
      }),
    );
  });
  afterAll(async () => {
    unavailable?.closeAllConnections();
    await new Promise((ok) => unavailable?.close(ok) ?? ok(undefined));
    await rm(dir, { recursive: true, force: true });
  });

  it('stderr is the journal: the failure is one line with priority <3>, no JSON', async () => {
    const r = await runInto(['--root', bare, 'check'], 'same');
    expect(r.exitCode).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^<3>configuration .*config\.json: file not found/);
    expect(r.lines.filter(looksLikeJson)).toEqual([]);
  });

  it('elsewhere (a file, JOURNAL_STREAM absent or naming another file): one human line', async () => {
    for (const journal of ['none', 'other'] as const) {
      const r = await runInto(['--root', bare, 'check'], journal);
      expect(r.exitCode, journal).toBe(2);
      expect(r.lines, journal).toHaveLength(1);
      expect(r.lines[0], journal).toMatch(/^sysext-agent: error: configuration .*file not found/);
      expect(r.lines.filter(looksLikeJson), journal).toEqual([]);
    }
  });

  it('--json: the error document on stdout, and still one line on stderr', async () => {
    const r = await runInto(['--root', bare, '--json', 'check'], 'same');
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('CONFIG');
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^<3>/);
  });

  it('--log-format json: pino JSON lines, the failure once at level 50 with its code', async () => {
    const r = await runInto(['--root', bare, '--log-format', 'json', 'check'], 'same');
    expect(r.exitCode).toBe(2);
    expect(r.lines).toHaveLength(1);
    const line = JSON.parse(r.lines[0] as string) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 50, code: 'CONFIG' });
    expect(String(line.msg)).toMatch(/file not found/);
  });

  it('a network failure in the journal: retries at <6>, the failure once at <3>', async () => {
    const r = await runInto(['--root', offline, 'check'], 'same');
    expect(r.exitCode).toBe(1);
    for (const l of r.lines) expect(l, l).toMatch(/^<[3467]>/);
    expect(r.lines.filter(looksLikeJson)).toEqual([]);
    const errors = r.lines.filter((l) => l.startsWith('<3>'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/HTTP 503/);
    expect(r.lines.some((l) => /^<6>attempt 1\/2 failed: .*; retrying in \d/.test(l))).toBe(true);
  });

  it('the same failure on a terminal-like stderr: no info lines by default, one error', async () => {
    const r = await runInto(['--root', offline, 'check'], 'none');
    expect(r.exitCode).toBe(1);
    expect(r.lines.filter((l) => l.startsWith('sysext-agent: error:'))).toHaveLength(1);
    expect(r.lines.some((l) => l.includes('retrying'))).toBe(false);
    expect(r.lines.filter(looksLikeJson)).toEqual([]);
  });
});
