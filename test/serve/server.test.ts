import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/serve/server.ts';
import type { RunningServer } from '../../src/serve/server.ts';

const data = randomBytes(100_000);
let dir: string;
let server: RunningServer;
const logs: object[] = [];

/** Sends the path byte-for-byte (fetch would normalise `..` away before it reaches the server). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'serve-test-'));
  const root = join(dir, 'repo');
  await mkdir(join(root, 'hello'), { recursive: true });
  await writeFile(join(root, 'hello', 'hello_1.0.raw'), data);
  await writeFile(join(root, 'manifest.json'), '{"x":1}\n');
  await writeFile(join(root, '.secret'), 'hidden');
  await writeFile(join(dir, 'outside.txt'), 'outside');
  await symlink('../outside.txt', join(root, 'escape.txt'));
  server = await startServer({ root, host: '127.0.0.1', port: 0, log: (l) => logs.push(l) });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('startServer', () => {
  it('returns a url ending with / on the chosen random port', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
  });

  it('serves a full GET with validators', async () => {
    const res = await fetch(new URL('hello/hello_1.0.raw', server.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(logs.length).toBeGreaterThan(0);
  });

  it('answers HEAD without a body', async () => {
    const res = await fetch(new URL('hello/hello_1.0.raw', server.url), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves a single range with 206 and Content-Range', async () => {
    const res = await fetch(new URL('hello/hello_1.0.raw', server.url), {
      headers: { Range: 'bytes=1000-' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000-${data.length - 1}/${data.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(1000))).toBe(true);
  });

  it('answers an unsatisfiable range with 416', async () => {
    const res = await fetch(new URL('hello/hello_1.0.raw', server.url), {
      headers: { Range: `bytes=${data.length}-` },
    });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${data.length}`);
  });

  it('honours If-Range: matching ETag gives 206, another ETag the full 200', async () => {
    const url = new URL('hello/hello_1.0.raw', server.url);
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    const hit = await fetch(url, { headers: { Range: 'bytes=10-19', 'If-Range': etag } });
    expect(hit.status).toBe(206);
    expect(Buffer.from(await hit.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
    const miss = await fetch(url, { headers: { Range: 'bytes=10-19', 'If-Range': '"other"' } });
    expect(miss.status).toBe(200);
    expect(Buffer.from(await miss.arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers 304 to If-None-Match with the current ETag', async () => {
    const url = new URL('manifest.json', server.url);
    const etag = (await fetch(url)).headers.get('etag') ?? '';
    const res = await fetch(url, { headers: { 'If-None-Match': etag } });
    expect(res.status).toBe(304);
  });

  it('answers 304 to If-Modified-Since at or after Last-Modified', async () => {
    const url = new URL('manifest.json', server.url);
    const lastModified = (await fetch(url)).headers.get('last-modified') ?? '';
    const res = await fetch(url, { headers: { 'If-Modified-Since': lastModified } });
    expect(res.status).toBe(304);
  });

  it('answers 404 for missing files, directories and dotfiles', async () => {
    for (const path of ['nope.raw', 'hello/', 'hello', '', '.secret', 'hello/.x']) {
      const res = await fetch(new URL(path, server.url));
      expect(res.status, path).toBe(404);
    }
  });

  it('refuses other methods', async () => {
    const res = await fetch(new URL('manifest.json', server.url), { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('refuses path traversal, raw and encoded, and symlinks leading outside', async () => {
    const attempts = [
      '/../etc/passwd',
      '/hello/../../etc/passwd',
      '/%2e%2e/etc/passwd',
      '/..%2fetc%2fpasswd',
      '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/..%5c..%5cetc%5cpasswd',
      '/hello%00.raw',
      '/escape.txt',
      '//etc/passwd',
    ];
    for (const path of attempts) {
      const res = await rawGet(server.port, path);
      expect([400, 403, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain('root:');
      expect(res.body, path).not.toContain('outside');
    }
  });
});
