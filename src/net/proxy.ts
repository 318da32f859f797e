/**
 * Which proxy a URL goes through, from the standard environment variables (as curl and Go's
 * net/http read them; documented in docs/operations.md):
 *
 * - `http_proxy`/`HTTP_PROXY` for http:// URLs, `https_proxy`/`HTTPS_PROXY` for https:// URLs
 *   (CONNECT tunnel). The lowercase name wins when both are set (undici's EnvHttpProxyAgent and
 *   curl agree). An https URL does not fall back to the http proxy (undici's EnvHttpProxyAgent
 *   would; curl and Go do not, and operators know curl's rules). `ALL_PROXY` is not read.
 * - `no_proxy`/`NO_PROXY`: entries separated by commas or spaces; `*` bypasses every host; a
 *   name matches itself and its subdomains (`example.com` and `.example.com` alike); `*.example.com`
 *   only subdomains; `HOST:PORT` only that port; IP addresses match exactly (no CIDR ranges).
 * - A proxy value without a scheme (`proxy:3128`) means http://, as curl reads it. A value that
 *   is not an http(s) URL is a configuration error naming the variable.
 *
 * Pure: the environment is passed in, so the rules are tested without touching process.env.
 */
import { AgentError } from '../errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface ProxyChoice {
  /** The proxy URL as undici needs it (credentials included). */
  uri: string;
  /** The proxy as messages and logs show it: scheme, host and port, never credentials. */
  display: string;
  /** The variable it came from, e.g. "https_proxy". */
  variable: string;
}

interface NoProxyEntry {
  host: string;
  port: number;
  subdomainsOnly: boolean;
}

const DEFAULT_PORT: Record<string, number> = { 'http:': 80, 'https:': 443 };

function firstSet(env: Env, names: readonly string[]): { name: string; value: string } | null {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return null;
}

function parseProxy(variable: string, value: string): ProxyChoice {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const url = URL.canParse(withScheme) ? new URL(withScheme) : null;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new AgentError(
      'CONFIG',
      `${variable}=${value}: not a proxy URL (expected http://HOST:PORT or https://HOST:PORT)`,
    );
  }
  return { uri: url.href, display: `${url.protocol}//${url.host}`, variable };
}

function parseNoProxy(value: string): NoProxyEntry[] {
  return value
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((raw) => {
      const entry = raw.toLowerCase();
      const withPort = /^\[(.+)\]:(\d+)$/.exec(entry) ?? /^([^:]+):(\d+)$/.exec(entry);
      const host = (withPort ? withPort[1]! : entry).replace(/^\[(.+)\]$/, '$1');
      return {
        host: host.replace(/^\*?\./, '').replace(/\.$/, ''),
        port: withPort ? Number(withPort[2]) : 0,
        subdomainsOnly: host.startsWith('*.'),
      };
    });
}

function bypassed(entries: readonly NoProxyEntry[], host: string, port: number): boolean {
  return entries.some((e) => {
    if (e.port !== 0 && e.port !== port) return false;
    if (e.host === '*') return true;
    if (!e.subdomainsOnly && host === e.host) return true;
    return host.endsWith(`.${e.host}`);
  });
}

/** The proxy for `url`, or null for a direct connection. */
export function proxyFor(url: string, env: Env): ProxyChoice | null {
  const u = new URL(url);
  const names =
    u.protocol === 'https:'
      ? ['https_proxy', 'HTTPS_PROXY']
      : u.protocol === 'http:'
        ? ['http_proxy', 'HTTP_PROXY']
        : [];
  const set = firstSet(env, names);
  if (!set) return null;
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  const host = u.hostname
    .replace(/^\[(.+)\]$/, '$1')
    .replace(/(.)\.$/, '$1')
    .toLowerCase();
  const port = Number(u.port) || DEFAULT_PORT[u.protocol] || 0;
  if (noProxy && bypassed(parseNoProxy(noProxy.value), host, port)) return null;
  return parseProxy(set.name, set.value);
}

/** Every proxy the environment configures, checked up front (a typo fails before any request). */
export function configuredProxies(env: Env): ProxyChoice[] {
  const out: ProxyChoice[] = [];
  for (const names of [
    ['http_proxy', 'HTTP_PROXY'],
    ['https_proxy', 'HTTPS_PROXY'],
  ]) {
    const set = firstSet(env, names);
    if (set) out.push(parseProxy(set.name, set.value));
  }
  return out;
}
