/**
 * The poll record: what a full `update` that found nothing to do read, asked and printed, so
 * that the next identical poll can answer the same without loading the agent (./answer.ts),
 * as long as nothing it read has changed and the repository answers the same two requests the
 * same way (PRODUCT.md section 9: a poll that finds nothing new within 2x of `node -e 0`).
 *
 * The record is a cache (ROOT/var/lib/sysext-agent/poll.json): without it, or with any field
 * that does not match, the whole agent runs. It only ever lets a run stop early; it never makes
 * one use anything that was not verified, and nothing in it is written to the host.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare const SYSEXT_AGENT_VERSION: string | undefined;

export const RECORD_FORMAT = 1;

/**
 * How long a record stands at most, whatever the manifest's expiry says: a bound on how long
 * an input the record does not cover could go unnoticed.
 */
export const MAX_RECORD_AGE_MS = 6 * 3600 * 1000;

/** One request of the poll and the status that means "nothing new". */
export interface ProbeRequest {
  url: string;
  headers: Record<string, string>;
  status: number;
}

export interface PollRecord {
  format: typeof RECORD_FORMAT;
  /** The agent and the Node that wrote it: another build may plan differently. */
  agent: string;
  node: string;
  argv: string[];
  cwd: string;
  /** The environment variables the agent reads (envInputs). */
  env: [string, string][];
  writtenAt: number;
  /** Epoch ms: the manifest's expiry, or writtenAt + MAX_RECORD_AGE_MS if sooner. */
  validUntil: number;
  /** The paths fingerprinted, and their fingerprint (./fingerprint.ts). */
  inputs: string[];
  skip: string[];
  fingerprint: string[];
  /** The lock and the transaction journal: a poll answered only while neither exists. */
  absent: string[];
  requests: ProbeRequest[];
  timeouts: { connectMs: number; idleMs: number };
  /** What the run printed on stdout, byte for byte, and the manifest it was about. */
  stdout: string;
  about: string;
}

/** The proxy variables: the record's requests go direct, so none may be set (src/net/proxy.ts). */
export const PROXY_VARIABLES = [
  'http_proxy',
  'HTTP_PROXY',
  'https_proxy',
  'HTTPS_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY',
] as const;

/**
 * Every environment variable the agent's plan or its requests depend on: where tools and the
 * os-release are found, the cache, the proxies, and the agent's own settings.
 */
const READ = [
  'PATH',
  'SYSTEMD_OS_RELEASE',
  'CACHE_DIRECTORY',
  'HOME',
  'XDG_CACHE_HOME',
  'NODE_EXTRA_CA_CERTS',
  ...PROXY_VARIABLES,
];

export function envInputs(env: NodeJS.ProcessEnv = process.env): [string, string][] {
  return Object.keys(env)
    .filter((k) => READ.includes(k) || k.startsWith('SYSEXT_AGENT_'))
    .sort()
    .map((k) => [k, env[k] ?? '']);
}

/**
 * The file this code runs from: the bundle (dist/sysext-agent.mjs, the image's
 * /usr/lib/sysext-agent/...), or this module in a checkout. Its fingerprint is an input: a new
 * agent may plan differently.
 */
export function codeFile(): string {
  return fileURLToPath(import.meta.url);
}

export function agentIdentity(): string {
  const version = typeof SYSEXT_AGENT_VERSION === 'string' ? SYSEXT_AGENT_VERSION : 'checkout';
  return `${version} ${codeFile()}`;
}

export function nodeIdentity(): string {
  return `${process.version} ${process.arch} ${process.execPath}`;
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** The record at `file` when it is one of this format; null otherwise (absent, torn, older). */
export function readRecord(file: string): PollRecord | null {
  let r: Partial<PollRecord>;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as Partial<PollRecord>;
  } catch {
    return null;
  }
  const ok =
    typeof r === 'object' &&
    r !== null &&
    r.format === RECORD_FORMAT &&
    typeof r.agent === 'string' &&
    typeof r.node === 'string' &&
    isStrings(r.argv) &&
    typeof r.cwd === 'string' &&
    Array.isArray(r.env) &&
    r.env.every((e) => isStrings(e) && e.length === 2) &&
    typeof r.writtenAt === 'number' &&
    typeof r.validUntil === 'number' &&
    isStrings(r.inputs) &&
    isStrings(r.skip) &&
    isStrings(r.fingerprint) &&
    isStrings(r.absent) &&
    Array.isArray(r.requests) &&
    r.requests.every(
      (q) =>
        typeof q?.url === 'string' &&
        typeof q.status === 'number' &&
        typeof q.headers === 'object' &&
        q.headers !== null &&
        Object.values(q.headers).every((h) => typeof h === 'string'),
    ) &&
    typeof r.timeouts?.connectMs === 'number' &&
    typeof r.timeouts.idleMs === 'number' &&
    typeof r.stdout === 'string' &&
    typeof r.about === 'string';
  return ok ? (r as PollRecord) : null;
}
