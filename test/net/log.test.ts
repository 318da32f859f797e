/**
 * What the network layer tells the operator (issue 10): each retry (attempt n/N, the delay, the
 * reason), each redirect followed (from -> to), each resume decision (resumed at byte X, or
 * restarted and why) and each mirror fallback (from which repository to which, why). In process,
 * against the fault-injecting server (test/helpers/fault-server.ts), through the HTTP source as
 * commands open it (src/net/source.ts) with a logger that keeps every record.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ImageEntry } from '../../src/manifest/schema.ts';
import { httpSource, routedSource, type RepositorySource } from '../../src/net/source.ts';
import { randomVerityParams, verityOfFile } from '../../src/verity/file.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';

// Large enough that a cut after 1 MiB leaves bytes on disk (undici drops what it had queued).
const SIZE = 2 * 1024 * 1024;
const IMG_PATH = 'img/img_1.0.raw';
const IMG = `/repo/${IMG_PATH}`;
const NETWORK = { connectTimeoutSec: 2, idleTimeoutSec: 2, attempts: 3, maxTotalSec: 30 };

interface Record {
  level: number;
  msg: string;
  [key: string]: unknown;
}

async function entryFor(file: string, path: string): Promise<ImageEntry> {
  const bytes = await readFile(file);
  const params = randomVerityParams();
  const tree = await verityOfFile(file, params);
  return {
    path,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    verity: {
      rootHash: tree.rootHash,
      salt: params.salt.toString('hex'),
      uuid: params.uuid,
      hashAlgorithm: 'sha256',
      dataBlockSize: 4096,
      hashBlockSize: 4096,
    },
  };
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

describe('network log lines', () => {
  let dir = '';
  let server: FaultServer;
  let entry: ImageEntry;
  let records: Record[] = [];
  let n = 0;
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void records.push(JSON.parse(line) as Record) },
  );
  const messages = (level?: number) =>
    records.filter((r) => level === undefined || r.level === level).map((r) => r.msg);

  /** The HTTP source with the run's logger, as buildContext opens it; closed after `fn`. */
  async function withSource<T>(
    fn: (s: RepositorySource) => Promise<T>,
    network = NETWORK,
  ): Promise<T> {
    const source = await httpSource(network, log);
    try {
      return await fn(source);
    } finally {
      await source.close();
    }
  }
  const partial = () => join(dir, `partial-${++n}/img_1.0.raw.part`);
  const url = () => `${server.url}repo/${IMG_PATH}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-netlog-'));
    const www = join(dir, 'www');
    await mkdir(join(www, 'repo/img'), { recursive: true });
    await mkdir(join(www, 'moved'), { recursive: true });
    const file = join(www, 'repo', IMG_PATH);
    const bytes = randomBytes(SIZE);
    await writeFile(file, bytes);
    await writeFile(join(www, 'moved/img_1.0.raw'), bytes);
    entry = await entryFor(file, IMG_PATH);
    server = await startFaultServer(www);
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    records = [];
    server.clearFaults();
    server.resetStats();
  });

  it('each retry: attempt n/N, the delay and the reason, at info; the last failure is not logged', async () => {
    server.setFault(IMG, { failTimes: { status: 503, times: 2 } });
    await withSource((s) => s.downloadImage([url()], entry, partial()));
    const retries = messages(30).filter((m) => m.startsWith('attempt'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(
      /^attempt 1\/3 failed: GET .*img_1\.0\.raw: HTTP 503; retrying in \d+\.\d s$/,
    );
    expect(retries[1]).toMatch(/^attempt 2\/3 failed: .*HTTP 503; retrying in \d+\.\d s$/);

    records = [];
    server.setFault(IMG, { failTimes: { status: 503, times: Infinity } });
    await expect(
      withSource((s) => s.downloadImage([url()], entry, partial()), { ...NETWORK, attempts: 2 }),
    ).rejects.toMatchObject({ code: 'HTTP_STATUS' });
    expect(messages().filter((m) => m.startsWith('attempt'))).toEqual([
      expect.stringMatching(/^attempt 1\/2 failed/),
    ]);
  });

  it('a Retry-After is named as the reason of the wait', async () => {
    server.setFault(IMG, { failTimes: { status: 429, times: 1, retryAfter: 1 } });
    await withSource((s) => s.downloadImage([url()], entry, partial()));
    expect(messages(30)).toContainEqual(
      expect.stringMatching(
        /^attempt 1\/3 failed: .*HTTP 429; retrying in [12]\.\d s \(Retry-After\)$/,
      ),
    );
  });

  it('each redirect followed: from -> to', async () => {
    server.setFault(IMG, { redirectTo: '/moved/img_1.0.raw' });
    await withSource((s) => s.downloadImage([url()], entry, partial()));
    const redirects = records.filter((r) => /redirected to/.test(r.msg));
    expect(redirects).toHaveLength(1);
    expect(redirects[0]).toMatchObject({
      level: 30,
      from: url(),
      to: `${server.url}moved/img_1.0.raw`,
    });
  });

  it('resume: "resuming at byte X of SIZE" after a cut', async () => {
    const p = partial();
    server.setFault(IMG, { cutAfter: 1_000_000, times: 1 });
    await expect(
      withSource((s) => s.downloadImage([url()], entry, p), { ...NETWORK, attempts: 1 }),
    ).rejects.toMatchObject({ code: 'NETWORK' });
    records = [];
    await withSource((s) => s.downloadImage([url()], entry, p));
    const resumed = records.find((r) => /resuming at byte/.test(r.msg));
    expect(resumed?.msg).toMatch(new RegExp(`^${IMG_PATH}: resuming at byte \\d+ of ${SIZE} `));
    expect(resumed?.level).toBe(30);
    expect(Number(resumed?.from)).toBeGreaterThan(0);
  });

  it('restart: the file changed on the server (If-Range answered with the whole file)', async () => {
    const p = partial();
    server.setFault(IMG, { cutAfter: 1_000_000, times: 1, changeEtagEachRequest: true });
    await expect(
      withSource((s) => s.downloadImage([url()], entry, p), { ...NETWORK, attempts: 1 }),
    ).rejects.toMatchObject({ code: 'NETWORK' });
    records = [];
    server.setFault(IMG, { changeEtagEachRequest: true });
    await withSource((s) => s.downloadImage([url()], entry, p));
    expect(messages(30)).toContainEqual(
      expect.stringMatching(/downloading from byte 0: the server sent the whole file/),
    );
  });

  it('restart: the partial came from another URL; a complete one is verified from disk', async () => {
    const p = partial();
    server.setFault(IMG, { cutAfter: 1_000_000, times: 1 });
    await expect(
      withSource((s) => s.downloadImage([url()], entry, p), { ...NETWORK, attempts: 1 }),
    ).rejects.toMatchObject({ code: 'NETWORK' });
    records = [];
    await withSource((s) => s.downloadImage([`${server.url}moved/img_1.0.raw`], entry, p));
    expect(messages(30)).toContainEqual(
      expect.stringMatching(
        /downloading from byte 0: the partial download was fetched from another URL/,
      ),
    );
    // Nothing discarded it after success (the store does that): the next attempt finds it whole.
    records = [];
    await withSource((s) => s.downloadImage([`${server.url}moved/img_1.0.raw`], entry, p));
    expect(messages(30)).toEqual([
      `${IMG_PATH}: the partial download is complete; verifying it from disk`,
    ]);
    expect(server.stats('/moved/img_1.0.raw').requests).toBe(1);
  });

  it('mirror fallback: from which repository to which, and why, at warning', async () => {
    const down = `http://127.0.0.1:${await closedPort()}/mirror/`;
    const open = routedSource({ http: httpSource, file: httpSource });
    const source = await open(NETWORK, log);
    try {
      await source.downloadImage([`${down}${IMG_PATH}`, url()], entry, partial());
    } finally {
      await source.close();
    }
    const fallback = records.filter((r) => r.level === 40 && /trying/.test(r.msg));
    expect(fallback).toHaveLength(1);
    expect(fallback[0]?.msg).toContain(`${IMG_PATH}: ${down} failed (`);
    expect(fallback[0]?.msg).toContain(`; trying ${server.url}repo/`);
    expect(fallback[0]).toMatchObject({ from: down, to: `${server.url}repo/` });
  });

  it('no logger, no lines: the source works as before', async () => {
    server.setFault(IMG, { failTimes: { status: 503, times: 1 } });
    const source = await httpSource(NETWORK);
    try {
      await source.downloadImage([url()], entry, partial());
    } finally {
      await source.close();
    }
    expect(records).toEqual([]);
  });
});
