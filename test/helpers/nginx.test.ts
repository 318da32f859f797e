import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginx } from './nginx.ts';
import type { RunningNginx } from './nginx.ts';
import { missing } from './requirements.ts';

const data = randomBytes(50_000);

describe.skipIf(missing('nginx'))('startNginx', () => {
  let root: string;
  let nginx: RunningNginx;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'nginx-root-'));
    await writeFile(join(root, 'hello_1.0.raw'), data);
    nginx = await startNginx(root);
  });

  afterAll(async () => {
    await nginx?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('serves on 127.0.0.1 with a url ending in /', () => {
    expect(nginx.url).toBe(`http://127.0.0.1:${nginx.port}/`);
  });

  it('answers a Range request with 206, the right bytes and an ETag', async () => {
    const res = await fetch(new URL('hello_1.0.raw', nginx.url), {
      headers: { Range: 'bytes=100-4195' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-4195/${data.length}`);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(100, 4196))).toBe(true);
  });

  it('honours If-Range with its own ETag', async () => {
    const url = new URL('hello_1.0.raw', nginx.url);
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    const hit = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': etag } });
    expect(hit.status).toBe(206);
    await hit.arrayBuffer();
    const miss = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': '"x"' } });
    expect(miss.status).toBe(200);
    await miss.arrayBuffer();
  });

  it('stops by PID and no longer answers', async () => {
    const extra = await startNginx(root);
    await extra.stop();
    await expect(fetch(extra.url)).rejects.toThrow();
  });
});
