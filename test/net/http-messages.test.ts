/**
 * Messages of the network layer for the two failures an operator meets first (issue 10):
 * - a server that is down used to mean 11-13 s of retries, then the URL twice and Node's
 *   `connect ECONNREFUSED`: now one line at once, naming the URL and the cause;
 * - https against a plain-http port used to end in raw OpenSSL text (`wrong version number`):
 *   now it says the server does not speak TLS on that port.
 * In process (createHttpClient + fetchDocument, timed) and through the real CLI `check`.
 */
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdir, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import { fetchDocument } from '../../src/net/document.ts';
import { createHttpClient } from '../../src/net/http.ts';
import { runCli } from '../helpers/cli.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

// Five attempts with p-retry's backoff (0.5 s doubling, randomised up to 2x) take at least 7.5 s.
const NETWORK = { connectTimeoutSec: 2, idleTimeoutSec: 2, attempts: 5, maxTotalSec: 60 };
const NO_PROXY_ENV = { http_proxy: '', HTTP_PROXY: '', https_proxy: '', HTTPS_PROXY: '' };

async function closedPort(): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function failure(url: string): Promise<{ err: AgentError; ms: number }> {
  const http = createHttpClient(NETWORK, {});
  const started = Date.now();
  try {
    await fetchDocument(http, url, 1024 * 1024);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return { err: err as AgentError, ms: Date.now() - started };
  } finally {
    await http.close();
  }
  throw new Error(`${url} did not fail`);
}

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

describe('network messages', () => {
  let sb: Sandbox;
  let server: FaultServer;

  beforeAll(async () => {
    sb = await makeSandbox();
    await mkdir(join(sb.dir, 'www'));
    server = await startFaultServer(join(sb.dir, 'www'));
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('a refused connection fails at once (not retried), naming the server and what to check', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/repo/manifest.json`;
    const { err, ms } = await failure(url);
    expect(err.code).toBe('NETWORK');
    expect(err.transient).toBe(false);
    expect(err.message).toContain(`connection refused by 127.0.0.1:${port}`);
    expect(err.message).toContain('is the server running? is the URL right?');
    expect(err.message).not.toContain('ECONNREFUSED');
    expect(occurrences(err.message, url)).toBe(1);
    expect(ms).toBeLessThan(2000);
  });

  it('https against a plain-http port: "does not speak TLS on that port", no OpenSSL text, not retried', async () => {
    const url = `https://127.0.0.1:${server.port}/repo/manifest.json`;
    const { err, ms } = await failure(url);
    expect(err.code).toBe('NETWORK');
    expect(err.transient).toBe(false);
    expect(err.message).toContain(`127.0.0.1:${server.port} does not speak TLS on that port`);
    expect(err.message).toContain('use http://');
    expect(err.message).not.toMatch(/wrong version number|SSL routines|openssl/i);
    expect(ms).toBeLessThan(2000);
  });

  describe('through the CLI', () => {
    async function check(repository: string) {
      const root = join(sb.dir, `host-${Math.random().toString(36).slice(2)}`);
      await mkdir(join(root, 'etc/sysext-agent/keys'), { recursive: true });
      await copyFile(
        join(sb.keysDir, 'publisher.pub'),
        join(root, 'etc/sysext-agent/keys/publisher.pub'),
      );
      const config = join(root, 'config.json');
      await writeFile(
        config,
        JSON.stringify({ repositories: [repository], extensions: { hello: {} }, network: NETWORK }),
      );
      const r = await runCli(
        ['--root', root, '--config', config, '--json', '--log-level', 'silent', 'check'],
        NO_PROXY_ENV,
      );
      const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
      return { exitCode: r.exitCode, ...error };
    }

    it('check against a server that is down: exit 1, NETWORK, the manifest URL once, the cause and the fix', async () => {
      const port = await closedPort();
      const r = await check(`http://127.0.0.1:${port}/repo/`);
      expect(r.exitCode).toBe(1);
      expect(r.code).toBe('NETWORK');
      expect(occurrences(r.message, `http://127.0.0.1:${port}/repo/manifest.json`)).toBe(1);
      expect(r.message).toMatch(/connection refused.*is the server running\? is the URL right\?/);
    });

    it('check over https against the plain-http port: exit 1, NETWORK, says to use http://', async () => {
      const r = await check(`https://127.0.0.1:${server.port}/repo/`);
      expect(r.exitCode).toBe(1);
      expect(r.code).toBe('NETWORK');
      expect(r.message).toMatch(/does not speak TLS on that port: use http:\/\//);
      expect(r.message).not.toMatch(/wrong version number|SSL routines/);
    });
  });
});
