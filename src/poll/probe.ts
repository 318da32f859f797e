/**
 * The poll's two requests (the next keys document, the manifest on its validators), both at
 * once, each on its own connection, reading nothing but the status line. Loading undici and
 * compiling its WebAssembly parser costs more than a poll's whole budget, and node:http's client
 * another 8 ms of first-use compilation (docs/performance.md); these requests need none of what
 * they give the agent: no body is read, no retry, no redirect, no proxy (a record is never
 * written while a proxy is configured).
 *
 * The status line is parsed strictly (RFC 9112 section 4: `HTTP/1.1 SP 3DIGIT SP`); anything
 * else, an error, a timeout or any status but the expected one is "not known to be the same":
 * the whole agent runs and makes the requests again, with undici, its retries and its error
 * messages. So a mistake here can only cost speed, never skip an update.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ProbeRequest } from './record.ts';

export interface ProbeTimeouts {
  connectMs: number;
  idleMs: number;
}

/** The longest status line read: `HTTP/1.1 304 ` and a reason phrase. */
const MAX_STATUS_LINE = 1024;

/** The request's bytes, or null when a header cannot be sent as it is (CR, LF, NUL in it). */
export function requestHead(url: URL, headers: Record<string, string>): string | null {
  const fields = Object.entries(headers);
  if (fields.some(([k, v]) => /[\r\n\0:]/.test(k) || /[\r\n\0]/.test(v))) return null;
  return [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    ...fields.map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
    '',
    '',
  ].join('\r\n');
}

/** The status code of a response that starts with `text`; null when it is not a status line. */
export function parseStatusLine(text: string): number | null {
  const m = /^HTTP\/1\.[01] ([1-5]\d\d) [^\r\n]*\r\n/.exec(text);
  return m ? Number(m[1]) : null;
}

function open(url: URL): Socket {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol === 'http:') return netConnect({ host, port });
  // Verified as undici verifies: the system's CAs (and NODE_EXTRA_CA_CERTS), the host's name.
  return tlsConnect({
    host,
    port,
    ALPNProtocols: ['http/1.1'],
    ...(isIP(host) ? {} : { servername: host }),
  });
}

/** The status of one GET, or null for any failure. */
export function statusOf(q: ProbeRequest, t: ProbeTimeouts): Promise<number | null> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(q.url);
    } catch {
      resolve(null);
      return;
    }
    const head = requestHead(url, q.headers);
    if (!head || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      resolve(null);
      return;
    }
    const socket = open(url);
    let got = '';
    const done = (status: number | null): void => {
      clearTimeout(connectTimer);
      socket.destroy();
      resolve(status);
    };
    const connectTimer = setTimeout(() => done(null), t.connectMs);
    socket.setTimeout(t.idleMs, () => done(null));
    socket.once('error', () => done(null));
    socket.once('close', () => done(parseStatusLine(got)));
    socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      socket.write(head);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.includes('\r\n') || got.length > MAX_STATUS_LINE) done(parseStatusLine(got));
    });
  });
}

/** True when every request got its expected status. */
export async function sameAnswers(
  requests: readonly ProbeRequest[],
  t: ProbeTimeouts,
): Promise<boolean> {
  const statuses = await Promise.all(requests.map((q) => statusOf(q, t)));
  return statuses.every((s, i) => s === requests[i]?.status);
}
