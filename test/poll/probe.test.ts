/**
 * The poll's status probe (src/poll/probe.ts): strict about the status line, and null (run the
 * whole agent) for everything it cannot be sure of: garbage, a cut connection, silence, a closed
 * port, a header that would split the request, a TLS server it cannot verify.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStatusLine, requestHead, sameAnswers, statusOf } from '../../src/poll/probe.ts';
import { missing, toolPath } from '../helpers/requirements.ts';

const T = { connectMs: 2000, idleMs: 300 };

describe('parseStatusLine', () => {
  it.each([
    ['HTTP/1.1 304 Not Modified\r\n', 304],
    ['HTTP/1.0 404 \r\nServer: x\r\n', 404],
    ['HTTP/1.1 200 OK\r\n', 200],
    ['HTTP/1.1 304 Not Modified', null],
    ['HTTP/2 304 \r\n', null],
    ['HTTP/1.1 3040 x\r\n', null],
    ['HTTP/1.1 604 x\r\n', null],
    ['xHTTP/1.1 304 x\r\n', null],
    ['', null],
  ])('%j -> %s', (line, status) => {
    expect(parseStatusLine(line)).toBe(status);
  });
});

describe('requestHead', () => {
  it('asks for the path and query, on the host and port, closing the connection', () => {
    const head = requestHead(new URL('http://127.0.0.1:8080/repo/manifest.json?x=1'), {
      'if-none-match': '"abc"',
    });
    expect(head).toBe(
      'GET /repo/manifest.json?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n' +
        'if-none-match: "abc"\r\nConnection: close\r\n\r\n',
    );
  });
  it.each(['"a"\r\nX-Injected: 1', '"a"\n', '"a"\0'])('refuses a header value %j', (v) => {
    expect(requestHead(new URL('http://h/m'), { 'if-none-match': v })).toBeNull();
  });
});

describe('statusOf', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  const seen: string[] = [];

  /** A server that answers each connection with `answer` (or nothing, when null). */
  async function scripted(answer: ((s: Socket) => void) | string | null): Promise<string> {
    const server = createServer((s) => {
      s.once('data', (d) => {
        seen.push(String(d));
        if (typeof answer === 'string') s.end(answer);
        else answer?.(s);
      });
      s.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it('reads the status of a 304 and sends the validators', async () => {
    const base = await scripted('HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n');
    const url = `${base}manifest.json`;
    const got = await statusOf({ url, headers: { 'if-none-match': '"a"' }, status: 304 }, T);
    expect(got).toBe(304);
    expect(seen.at(-1)).toMatch(/^GET \/manifest.json HTTP\/1.1\r\n.*\r\nif-none-match: "a"\r\n/s);
  });

  it('null for garbage, a cut connection, silence and a closed port', async () => {
    const q = (url: string) => ({ url, headers: {}, status: 304 });
    expect(await statusOf(q(await scripted('SSH-2.0-OpenSSH\r\n')), T)).toBeNull();
    expect(await statusOf(q(await scripted((s) => s.destroy())), T)).toBeNull();
    expect(await statusOf(q(await scripted(null)), T)).toBeNull();
    const closed = await scripted(null);
    await new Promise((r) => servers.pop()?.close(r));
    expect(await statusOf(q(closed), T)).toBeNull();
    expect(await statusOf(q('ftp://127.0.0.1/x'), T)).toBeNull();
  });

  it('sameAnswers: every request its own status, or false', async () => {
    const base = await scripted('HTTP/1.1 404 Not Found\r\n\r\n');
    const keys = { url: `${base}keys/1.json`, headers: {}, status: 404 };
    expect(await sameAnswers([keys, keys], T)).toBe(true);
    expect(await sameAnswers([keys, { ...keys, status: 304 }], T)).toBe(false);
  });

  it.skipIf(missing('openssl'))(
    'null from a TLS server whose certificate it cannot verify',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sysext-agent-probe-'));
      try {
        execFileSync(
          toolPath('openssl'),
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=localhost',
            '-keyout',
            join(dir, 'key.pem'),
            '-out',
            join(dir, 'cert.pem'),
          ],
          { stdio: 'ignore' },
        );
        const server = createTlsServer(
          {
            key: await readFile(join(dir, 'key.pem')),
            cert: await readFile(join(dir, 'cert.pem')),
          },
          (s) => s.end('HTTP/1.1 304 Not Modified\r\n\r\n'),
        );
        servers.push(server);
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const port = (server.address() as AddressInfo).port;
        const q = { url: `https://localhost:${port}/manifest.json`, headers: {}, status: 304 };
        expect(await statusOf(q, T)).toBeNull();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
