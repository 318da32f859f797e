/**
 * Runs the real nginx as a test update repository: a second, independent implementation of
 * Range / ETag / If-Range next to our own `serve`, so the agent is not only tested against itself.
 *
 * nginx runs in the foreground (`daemon off; master_process off;`) as a child of the test
 * process, with every path it writes (pid, logs, the five temp dirs compiled into Debian's build
 * under /var/lib/nginx) in a private temp dir, listening on 127.0.0.1 only. It is stopped by
 * its own PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toolPath } from './requirements.ts';

export interface RunningNginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok, fail) => {
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', ok);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** nginx expands `$` in `root`, and a quote or backslash would end the quoted string. */
function quote(path: string): string {
  if (/["\\$\n\r{};]/.test(path)) throw new Error(`path unusable in an nginx config: ${path}`);
  return `"${path}"`;
}

function config(dir: string, root: string, port: number): string {
  const t = (name: string): string => quote(join(dir, name));
  return `daemon off;
master_process off;
worker_processes 1;
pid ${t('nginx.pid')};
error_log ${t('error.log')} info;
events { worker_connections 256; }
http {
  access_log ${t('access.log')};
  client_body_temp_path ${t('client_body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  types { application/json json; application/octet-stream raw; }
  default_type application/octet-stream;
  sendfile on;
  etag on;
  server_tokens off;
  server {
    listen 127.0.0.1:${port};
    root ${quote(root)};
    autoindex off;
    location / { }
  }
}
`;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once('exit', () => ok()));
}

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

async function tryStart(nginx: string, dir: string, root: string): Promise<RunningNginx | null> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, root, port));
  const child = spawn(nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const spawnError = new Promise<Error>((ok) => child.once('error', ok));

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await answers(port)) {
      const url = `http://127.0.0.1:${port}/`;
      const stop = async (): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(child.pid, 'SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited(child);
          clearTimeout(killer);
        }
        await rm(dir, { recursive: true, force: true });
      };
      return { url, port, stop };
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.race([exited(child), spawnError]);
  const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  // Another process took the port between freePort() and nginx's bind: try another one.
  if (/Address already in use/.test(log + stderr)) return null;
  throw new Error(
    `nginx did not start (exit ${child.exitCode ?? child.signalCode}): ${stderr}${log}`,
  );
}

export async function startNginx(root: string): Promise<RunningNginx> {
  // On PATH, like every tool of the tests (test/helpers/requirements.ts); Debian puts it in
  // /usr/sbin, which root's PATH has.
  const nginx = toolPath('nginx');
  const absRoot = resolve(root);
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'nginx-test-'));
    try {
      const running = await tryStart(nginx, dir, absRoot);
      if (running) return running;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error('nginx could not bind a free port on 127.0.0.1 after 5 attempts');
}
