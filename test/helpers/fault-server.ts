/**
 * Fault-injecting HTTP servers for the download tests, in process, on 127.0.0.1 only.
 *
 * `startFaultServer(dir)` serves a directory like a plain static repository (GET/HEAD, a single
 * `Range`, a strong `ETag` + `Last-Modified`, `If-Range`, `If-None-Match` / `If-Modified-Since`
 * -> 304) and misbehaves per path on demand (`setFault`). It counts, per request path: requests,
 * body bytes written, statuses, request headers and arrival times, so tests assert on what the
 * server really sent (not on what the client says it received).
 *
 * `startCutProxy(port)` is a TCP proxy in front of another server (nginx): it parses the HTTP/1.1
 * exchanges going through it just enough to count response body bytes per request path, and can
 * cut a connection after N body bytes of the next response for a path.
 *
 * Everything a test starts here is stopped by `close()`, which also destroys open connections
 * (a stalled response keeps its socket open until then).
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createConnection, createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Fault {
  /**
   * How many of the next responses (for this path) the body faults below apply to: `cutAfter`,
   * `stallAfter`, `ignoreRange`, `wrongContentRange`, `extraBytes`, `slowBytesPerSec`, `drip`,
   * `bodyDelayMs`, `noContentLength`. Default: all of them.
   */
  times?: number;
  /** Write N body bytes, let them reach the socket, then destroy the connection. */
  cutAfter?: number;
  /** Write N body bytes, then send nothing more but keep the connection open. */
  stallAfter?: number;
  /** Answer every GET with 200 and the whole file, Range or not. */
  ignoreRange?: boolean;
  /**
   * A range request gets a 206 whose Content-Range is wrong: `start` answers the whole file as
   * `bytes 0-(size-1)/size` (a range starting elsewhere), `total` answers the asked bytes with a
   * total of size+1.
   */
  wrongContentRange?: 'start' | 'total';
  /** Every request sees a new strong ETag (the file "changed"); If-Range never matches. */
  changeEtagEachRequest?: boolean;
  /** Append N bytes to the body. */
  extraBytes?: number;
  /** With `extraBytes`: declare the longer length in Content-Length (else chunked, no length). */
  extraBytesDeclared?: boolean;
  /** Omit Content-Length (chunked transfer coding). */
  noContentLength?: boolean;
  /** Answer `status` (with Retry-After: `retryAfter` seconds if given) to the first `times` requests. */
  failTimes?: { status: number; times: number; retryAfter?: number };
  /** Throttle the body to this rate, in 10 bursts a second. */
  slowBytesPerSec?: number;
  /**
   * A slow-loris server (TUF slow retrieval): `bytes` (default 1) body bytes every `everyMs`,
   * which no idle timeout cuts. Takes precedence over `slowBytesPerSec`.
   */
  drip?: { everyMs: number; bytes?: number };
  /** Send the headers, then wait this long before the first body byte (0 bytes if the client leaves). */
  bodyDelayMs?: number;
  /** Answer 302 with this Location (a path on this server or an absolute URL). */
  redirectTo?: string;
}

export interface PathStats {
  requests: number;
  /** Body bytes handed to the socket (an upper bound on what the client received). */
  bodyBytes: number;
  statuses: number[];
  headers: IncomingHttpHeaders[];
  /** Date.now() at the arrival of each request. */
  arrivals: number[];
  /** Responses the client closed before the server finished them. */
  aborted: number;
}

export interface FaultServer {
  /** Base URL, ending in "/". */
  url: string;
  port: number;
  setFault(path: string, fault: Fault): void;
  clearFaults(): void;
  /** Counters for one request path (as sent, e.g. "/repo/manifest.json"); zeros if never requested. */
  stats(path: string): PathStats;
  /** Requests for any path since the last resetStats(). */
  totalRequests(): number;
  resetStats(): void;
  close(): Promise<void>;
}

function emptyStats(): PathStats {
  return { requests: 0, bodyBytes: 0, statuses: [], headers: [], arrivals: [], aborted: 0 };
}

function copyStats(s: PathStats): PathStats {
  return { ...s, statuses: [...s.statuses], headers: [...s.headers], arrivals: [...s.arrivals] };
}

/** One `bytes=` range, resolved against `size`; null = no usable range (serve 200). */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

const CHUNK = 64 * 1024;

/** Resolves when the response is closed (finished, or the client left). */
function closed(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((ok) => res.once('close', () => ok()));
}

/** Writes with backpressure; resolves false as soon as the response is closed (`gone`). */
function writeChunk(res: ServerResponse, chunk: Buffer, gone: Promise<void>): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return Promise.race([
    new Promise<boolean>((ok) => res.write(chunk, () => ok(!res.destroyed))),
    gone.then(() => false),
  ]);
}

export async function startFaultServer(root: string): Promise<FaultServer> {
  const faults = new Map<string, Fault & { used: number; failed: number }>();
  const stats = new Map<string, PathStats>();
  let etagGeneration = 0;

  const statsOf = (path: string): PathStats => {
    let s = stats.get(path);
    if (!s) stats.set(path, (s = emptyStats()));
    return s;
  };

  async function handle(
    req: { method?: string; url?: string; headers: IncomingHttpHeaders },
    res: ServerResponse,
  ): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const s = statsOf(path);
    s.requests++;
    s.headers.push({ ...req.headers });
    s.arrivals.push(Date.now());
    const answer = (status: number, headers: Record<string, string> = {}): void => {
      s.statuses.push(status);
      const body = `${status}\n`;
      res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };

    const fault = faults.get(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, { Allow: 'GET, HEAD' });
    if (fault?.failTimes && fault.failed < fault.failTimes.times) {
      fault.failed++;
      const { status, retryAfter } = fault.failTimes;
      return answer(status, retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) });
    }
    if (fault?.redirectTo) return answer(302, { Location: fault.redirectTo });

    const rel = normalize(decodeURIComponent(path)).replace(/^\/+/, '');
    if (rel.split(sep).includes('..')) return answer(403);
    const file = join(root, rel);
    let info;
    try {
      info = await stat(file);
    } catch {
      return answer(404);
    }
    if (!info.isFile()) return answer(404);

    const size = info.size;
    const base = `${size.toString(16)}-${Math.round(info.mtimeMs * 1000).toString(16)}-${info.ino.toString(16)}`;
    const etag = fault?.changeEtagEachRequest ? `"${base}-${++etagGeneration}"` : `"${base}"`;
    const lastModified = info.mtime.toUTCString();
    const common = { ETag: etag, 'Last-Modified': lastModified, 'Accept-Ranges': 'bytes' };

    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    if (inm !== undefined) {
      if (
        inm
          .split(',')
          .map((t) => t.trim())
          .some((t) => t === '*' || t === etag || t === `W/${etag}`)
      ) {
        s.statuses.push(304);
        res.writeHead(304, common);
        res.end();
        return;
      }
    } else if (ims !== undefined) {
      const since = Date.parse(ims);
      if (!Number.isNaN(since) && Math.floor(info.mtimeMs / 1000) * 1000 <= since) {
        s.statuses.push(304);
        res.writeHead(304, common);
        res.end();
        return;
      }
    }

    const bodyFault = fault && fault.used < (fault.times ?? Infinity) ? fault : undefined;
    if (fault && bodyFault) fault.used++;

    let range = bodyFault?.ignoreRange ? null : parseRange(req.headers.range, size);
    const ifRangeHeader = req.headers['if-range'];
    const ifRange = Array.isArray(ifRangeHeader) ? ifRangeHeader[0] : ifRangeHeader;
    if (range !== null && ifRange !== undefined) {
      const matches = ifRange.startsWith('"') ? ifRange === etag : ifRange === lastModified;
      if (!matches) range = null;
    }
    if (range === 'unsatisfiable') return answer(416, { 'Content-Range': `bytes */${size}` });

    const content = await readFile(file);
    let status = 200;
    let body = content;
    const headers: Record<string, string> = { ...common };
    if (range) {
      status = 206;
      body = content.subarray(range.start, range.end + 1);
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
      if (bodyFault?.wrongContentRange === 'start') {
        body = content;
        headers['Content-Range'] = `bytes 0-${size - 1}/${size}`;
      } else if (bodyFault?.wrongContentRange === 'total') {
        headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size + 1}`;
      }
    }
    let declared = !bodyFault?.noContentLength;
    if (bodyFault?.extraBytes) {
      body = Buffer.concat([body, randomBytes(bodyFault.extraBytes)]);
      declared = bodyFault.extraBytesDeclared === true;
    }
    if (declared) headers['Content-Length'] = String(body.length);
    s.statuses.push(status);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.flushHeaders();

    const gone = closed(res);
    if (bodyFault?.bodyDelayMs) {
      await Promise.race([sleep(bodyFault.bodyDelayMs), gone]);
      if (res.destroyed) {
        s.aborted++;
        return;
      }
    }
    const limit = Math.min(
      body.length,
      bodyFault?.cutAfter ?? Infinity,
      bodyFault?.stallAfter ?? Infinity,
    );
    const rate = bodyFault?.slowBytesPerSec;
    const drip = bodyFault?.drip;
    const step = drip
      ? Math.max(1, drip.bytes ?? 1)
      : rate
        ? Math.max(1, Math.floor(rate / 10))
        : CHUNK;
    const pause = drip ? drip.everyMs : 100;
    for (let pos = 0; pos < limit;) {
      const chunk = body.subarray(pos, Math.min(limit, pos + step));
      s.bodyBytes += chunk.length;
      pos += chunk.length;
      if (!(await writeChunk(res, chunk, gone))) {
        s.aborted++;
        return;
      }
      if ((drip || rate) && pos < limit) {
        await Promise.race([sleep(pause), gone]);
        if (res.destroyed) {
          s.aborted++;
          return;
        }
      }
    }
    if (bodyFault?.cutAfter !== undefined && bodyFault.cutAfter < body.length) {
      res.socket?.destroy();
      return;
    }
    if (bodyFault?.stallAfter !== undefined && bodyFault.stallAfter < body.length) {
      await gone;
      s.aborted++;
      return;
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500);
        res.end(String(err));
      } else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    setFault: (path, fault) => faults.set(path, { ...fault, used: 0, failed: 0 }),
    clearFaults: () => faults.clear(),
    stats: (path) => copyStats(stats.get(path) ?? emptyStats()),
    totalRequests: () => [...stats.values()].reduce((n, s) => n + s.requests, 0),
    resetStats: () => stats.clear(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

export interface CutProxy {
  url: string;
  port: number;
  /** Cut the connection after `bodyBytes` response body bytes of the next response for `path`. */
  cutNext(path: string, bodyBytes: number): void;
  /** Response body bytes forwarded per request path, and statuses and request heads seen. */
  stats(path: string): { requests: number; bodyBytes: number; statuses: number[]; heads: string[] };
  resetStats(): void;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** A TCP proxy to 127.0.0.1:`targetPort` that understands just enough HTTP/1.1 to count and cut. */
export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  const cuts = new Map<string, number>();
  const counts = new Map<
    string,
    { requests: number; bodyBytes: number; statuses: number[]; heads: string[] }
  >();
  const sockets = new Set<Socket>();
  const countOf = (path: string) => {
    let c = counts.get(path);
    if (!c) counts.set(path, (c = { requests: 0, bodyBytes: 0, statuses: [], heads: [] }));
    return c;
  };

  const server = createTcpServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => (sockets.delete(client), upstream.destroy()));
    upstream.on('close', () => (sockets.delete(upstream), client.destroy()));
    client.on('error', end);
    upstream.on('error', end);

    // Requests in flight on this connection (GET/HEAD carry no body).
    const pending: { method: string; path: string }[] = [];
    let reqBuf = Buffer.alloc(0);
    client.on('data', (data: Buffer) => {
      reqBuf = Buffer.concat([reqBuf, data]);
      for (let i = reqBuf.indexOf(HEAD_END); i !== -1; i = reqBuf.indexOf(HEAD_END)) {
        const head = reqBuf.subarray(0, i).toString('latin1');
        reqBuf = reqBuf.subarray(i + 4);
        const m = /^(\S+) (\S+) HTTP\/1\.[01]/.exec(head);
        const path = new URL(m?.[2] ?? '/', 'http://x').pathname;
        pending.push({ method: m?.[1] ?? 'GET', path });
        const c = countOf(path);
        c.requests++;
        c.heads.push(head);
      }
      if (!upstream.write(data)) client.pause();
    });
    upstream.on('drain', () => client.resume());

    // The response being forwarded: its head, then `remaining` body bytes.
    let resBuf = Buffer.alloc(0);
    let current: { path: string; remaining: number; cut: number | undefined } | null = null;
    const forward = (chunk: Buffer): boolean => {
      if (!client.write(chunk)) upstream.pause();
      return true;
    };
    client.on('drain', () => upstream.resume());
    upstream.on('data', (data: Buffer) => {
      let rest = data;
      while (rest.length > 0) {
        if (!current) {
          resBuf = Buffer.concat([resBuf, rest]);
          const i = resBuf.indexOf(HEAD_END);
          if (i === -1) return;
          const head = resBuf.subarray(0, i + 4);
          rest = resBuf.subarray(i + 4);
          resBuf = Buffer.alloc(0);
          forward(head);
          const text = head.toString('latin1');
          const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? 0);
          const req = pending.shift() ?? { method: 'GET', path: '?' };
          countOf(req.path).statuses.push(status);
          const noBody = req.method === 'HEAD' || status === 304 || status === 204 || status < 200;
          const cut = cuts.get(req.path);
          if (cut !== undefined) cuts.delete(req.path);
          current = { path: req.path, remaining: noBody ? 0 : length, cut };
          if (current.remaining === 0) {
            current = null;
            continue;
          }
        }
        const take = Math.min(current.remaining, rest.length);
        let body = rest.subarray(0, take);
        rest = rest.subarray(take);
        if (current.cut !== undefined && body.length >= current.cut) {
          body = body.subarray(0, current.cut);
          countOf(current.path).bodyBytes += body.length;
          client.write(body, () => end());
          upstream.destroy();
          return;
        }
        if (current.cut !== undefined) current.cut -= body.length;
        countOf(current.path).bodyBytes += body.length;
        current.remaining -= body.length;
        if (body.length > 0) forward(body);
        if (current.remaining === 0) current = null;
      }
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    cutNext: (path, bodyBytes) => cuts.set(path, bodyBytes),
    stats: (path) => {
      const c = counts.get(path);
      return c
        ? { ...c, statuses: [...c.statuses], heads: [...c.heads] }
        : { requests: 0, bodyBytes: 0, statuses: [], heads: [] };
    },
    resetStats: () => counts.clear(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
