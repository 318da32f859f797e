/**
 * Runs the real tinyproxy (Debian package tinyproxy) as the HTTP proxy of the proxy tests: plain
 * http forwarding and CONNECT tunnels, on 127.0.0.1 only, with a temp config and its log in a
 * private temp dir. It runs in the foreground (`-d`) as a child of the test process and is
 * stopped by its own PID.
 *
 * The log (LogLevel Connect) has one line per request: `Request (file descriptor N): GET
 * http://127.0.0.1:PORT/repo/manifest.json HTTP/1.1` for forwarded requests, `... CONNECT
 * 127.0.0.1:PORT HTTP/1.1` for tunnels; `requests()` returns those request lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { toolPath } from './requirements.ts';

export interface RunningProxy {
  /** `http://127.0.0.1:PORT` (no trailing slash, as proxy variables are usually written). */
  url: string;
  port: number;
  /** The request lines logged since the start (or the last `clear()`): "GET http://...", "CONNECT host:port". */
  requests(): Promise<string[]>;
  /** Forget the requests logged so far. */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok, fail) => {
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', ok);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), ok(true)));
    s.once('error', () => ok(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once('exit', () => ok()));
}

function config(dir: string, port: number): string {
  // No ConnectPort line: CONNECT to any port (the test servers listen on random ports).
  return `Port ${port}
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 60
MaxClients 20
LogFile "${join(dir, 'tinyproxy.log')}"
LogLevel Connect
PidFile "${join(dir, 'tinyproxy.pid')}"
DisableViaHeader Yes
`;
}

async function tryStart(tinyproxy: string, dir: string): Promise<RunningProxy | null> {
  const port = await freePort();
  const conf = join(dir, 'tinyproxy.conf');
  const log = join(dir, 'tinyproxy.log');
  await writeFile(conf, config(dir, port));
  await writeFile(log, '');
  const child = spawn(tinyproxy, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  let skip = 0;
  const lines = async (): Promise<string[]> => (await readFile(log, 'utf8')).split('\n');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (await accepts(port)) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        requests: async () =>
          (await lines())
            .slice(skip)
            .map((l) => /Request \(file descriptor \d+\): (\S+ \S+)/.exec(l)?.[1])
            .filter((r): r is string => r !== undefined),
        clear: async () => {
          skip = (await lines()).length - 1;
        },
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
            process.kill(child.pid, 'SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited(child);
            clearTimeout(killer);
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await sleep(50);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited(child);
  const text = (await readFile(log, 'utf8').catch(() => '')) + stderr;
  // Another process took the port between freePort() and tinyproxy's bind: try another one.
  if (/Address already in use|Could not create listening socket/i.test(text)) return null;
  throw new Error(`tinyproxy did not start: ${text.trim()}`);
}

/** Starts tinyproxy on a free 127.0.0.1 port; throws (naming the package) if it is missing. */
export async function startTinyproxy(): Promise<RunningProxy> {
  const tinyproxy = toolPath('tinyproxy');
  for (let tries = 0; tries < 5; tries++) {
    const dir = await mkdtemp(join(tmpdir(), 'sysext-agent-proxy-'));
    const started = await tryStart(tinyproxy, dir);
    if (started) return started;
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error('tinyproxy: no free port after 5 tries');
}
