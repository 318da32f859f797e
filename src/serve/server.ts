/**
 * Static file server for an update repository (`sysext-agent serve`, tests and demos).
 *
 * The HTTP semantics are delegated to `send` (pillarjs, the engine behind express.static and
 * serve-static): single-range requests (206 + Content-Range, 416 with `bytes *\/SIZE`, multiple
 * ranges degrade to a full 200), If-Range (ETag or date), If-None-Match / If-Modified-Since (304),
 * If-Match / If-Unmodified-Since (412), HEAD, Last-Modified. Those rules are easy to get subtly
 * wrong by hand and `send` has a decade of production use; this module only adds policy:
 *
 * - GET and HEAD only (405 otherwise); no directory listing or index files (404);
 * - no dotfiles and no `..` segment, decoded or not (404 / 403), checked here and again by send;
 * - the real path (symlinks resolved) must stay inside the real root, so a symlink in the
 *   repository cannot expose files outside it;
 * - 304 also for requests carrying `Cache-Control: no-cache` (see below), like nginx;
 * - a STRONG ETag (send's default is weak, and RFC 9110 forbids weak tags in If-Range, which
 *   the agent's resumable downloader relies on). Like nginx it is derived from size and mtime,
 *   plus the inode so that an atomically replaced file of equal size gets a new tag.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import send from 'send';
import { AgentError } from '../errors.ts';

export interface StartServerOptions {
  root: string;
  host: string;
  port: number;
  log?: (line: object) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface HttpishError extends Error {
  status?: number;
  statusCode?: number;
  headers?: Record<string, string>;
}

function plain(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  const body = `${status}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

/** Status to refuse the raw request path with, or null if it may be looked up below root. */
function refusePath(rawPath: string): number | null {
  if (!rawPath.startsWith('/')) return 400;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return 400;
  }
  if (decoded.includes('\0')) return 400;
  const segments = decoded.split(/[\\/]/);
  if (segments.some((s) => s === '..')) return 403;
  if (segments.some((s) => s.startsWith('.'))) return 404;
  return null;
}

async function handle(realRoot: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, { Allow: 'GET, HEAD' });
    return;
  }
  const url = req.url ?? '/';
  const q = url.search(/[?#]/);
  const rawPath = q === -1 ? url : url.slice(0, q);
  const refused = refusePath(rawPath);
  if (refused !== null) {
    plain(res, refused);
    return;
  }

  let real: string;
  try {
    real = await realpath(join(realRoot, decodeURIComponent(rawPath)));
  } catch {
    plain(res, 404);
    return;
  }
  if (!real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
    plain(res, 404);
    return;
  }

  // `send` (via `fresh`) ignores If-None-Match/If-Modified-Since when the request says
  // `Cache-Control: no-cache`, which fetch() adds to every conditional request. That directive is
  // addressed to caches; an origin server evaluates the preconditions (RFC 9110 13.2.1), as
  // nginx does, so drop it before send looks.
  delete req.headers['cache-control'];
  const stream = send(req, rawPath, {
    root: realRoot,
    dotfiles: 'ignore',
    index: false,
    etag: true,
    lastModified: true,
    acceptRanges: true,
    maxAge: 0,
  });
  stream.on(
    'headers',
    (r: ServerResponse, _path: string, st: { size: number; mtimeMs: number; ino: number }) => {
      const mtimeUs = Math.round(st.mtimeMs * 1000);
      r.setHeader(
        'ETag',
        `"${st.size.toString(16)}-${mtimeUs.toString(16)}-${st.ino.toString(16)}"`,
      );
    },
  );
  stream.on('directory', () => plain(res, 404));
  stream.on('error', (err: HttpishError) => {
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    const status = err.status ?? err.statusCode ?? 500;
    // Keep the headers send attached to the error (Content-Range on a 416).
    plain(res, status, err.headers ?? {});
  });
  stream.pipe(res);
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  let realRoot: string;
  try {
    realRoot = await realpath(opts.root);
    if (!(await stat(realRoot)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new AgentError('USAGE', `cannot serve ${opts.root}: not a readable directory`, {
      cause: err,
    });
  }
  const log = opts.log;

  const server = createServer((req, res) => {
    const started = performance.now();
    if (log) {
      res.on('finish', () =>
        log({
          msg: 'http request',
          method: req.method,
          url: req.url,
          range: req.headers.range,
          status: res.statusCode,
          length: res.getHeader('Content-Length'),
          ms: Math.round(performance.now() - started),
        }),
      );
    }
    handle(realRoot, req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy(err instanceof Error ? err : undefined);
      else plain(res, 500);
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new AgentError('IO', `cannot listen on ${opts.host}:${opts.port}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostPart}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
