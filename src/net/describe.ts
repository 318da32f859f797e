/**
 * One line for a failed connection: the cause in words and what to check, instead of Node's
 * and OpenSSL's raw text; and whether another attempt can help (retry.ts).
 *
 * Not retried (the next timer run is the retry; the next mirror is tried at once):
 * - connection refused: the host answered that nothing listens on that port. That is a
 *   definite answer, not a hiccup: retrying it spent 11-13 s of the default budget
 *   (5 attempts, exponential backoff) before saying the same thing.
 * - TLS against a server that does not speak TLS on that port, a certificate not accepted, a
 *   proxy that refuses or wants credentials: a configuration problem no retry fixes.
 * Retried: timeouts, resets, DNS failures (a host coming up before its network), and anything
 * not recognised here.
 */
import type { ProxyChoice } from './proxy.ts';

export interface Hop {
  url: string;
  /** The proxy the request went through, or null for a direct connection. */
  proxy: ProxyChoice | null;
  /** For the timeouts' values in messages; null while reading a body. */
  options: { connectTimeoutSec: number; idleTimeoutSec: number } | null;
}

export interface Failure {
  text: string;
  transient: boolean;
}

/** OpenSSL's codes for a first answer that is not a TLS record (plain HTTP on that port). */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_RECORD_LAYER_FAILURE',
]);

const CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The most specific code in the cause chain: the system's (ECONNREFUSED) before undici's. */
function codeOf(err: unknown): string | undefined {
  const codes: string[] = [];
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (typeof e.code === 'string') codes.push(e.code);
  }
  return codes.find((c) => !c.startsWith('UND_ERR_')) ?? codes[0];
}

function hostOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
}

function proxyFailure(p: ProxyChoice, code: string | undefined, message: string): Failure | null {
  const name = `the proxy ${p.display} (${p.variable})`;
  if (code === 'ECONNREFUSED')
    return {
      text: `connection refused by ${name}: is the proxy running? is ${p.variable} right?`,
      transient: false,
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return { text: `cannot resolve the host of ${name}: is ${p.variable} right?`, transient: true };
  const status = /Proxy response \((\d+)\)|\((\d+)\)$/.exec(message);
  if (status) {
    const n = Number(status[1] ?? status[2]);
    const hint =
      n === 407
        ? `: it wants credentials (${p.variable}=http://USER:PASSWORD@HOST:PORT)`
        : n === 403
          ? ': its rules refuse this destination or port'
          : '';
    return { text: `${name} answered HTTP ${n}${hint}`, transient: n >= 500 };
  }
  if (code === 'UND_ERR_PRX_CONN')
    return { text: `${name} closed the connection: ${message}`, transient: true };
  return null;
}

export function describeFailure(hop: Hop, err: unknown): Failure {
  const code = codeOf(err);
  const message = (err as Error)?.message ?? String(err);
  const host = hostOf(hop.url);
  if (hop.proxy) {
    const viaProxy = proxyFailure(hop.proxy, code, message);
    if (viaProxy) return viaProxy;
  }
  if (code === 'ECONNREFUSED')
    return {
      text: `connection refused by ${host}: is the server running? is the URL right?`,
      transient: false,
    };
  if (code !== undefined && NOT_TLS.has(code))
    return {
      text: `${host} does not speak TLS on that port: use http:// or the server's TLS port`,
      transient: false,
    };
  if (code !== undefined && CERTIFICATE.has(code))
    return {
      text: `the TLS certificate of ${host} is not accepted (${code}): ${message}`,
      transient: false,
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      text: `cannot resolve ${new URL(hop.url).hostname}: is the URL right?`,
      transient: true,
    };
  if (code === 'UND_ERR_CONNECT_TIMEOUT')
    return {
      text: `no connection to ${hop.proxy ? hop.proxy.display : host} within ${hop.options?.connectTimeoutSec ?? '?'} s (network.connectTimeoutSec)`,
      transient: true,
    };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return {
      text: `${host} sent nothing for ${hop.options ? `${hop.options.idleTimeoutSec} s` : 'too long'} (network.idleTimeoutSec)`,
      transient: true,
    };
  return { text: message.trim(), transient: true };
}
