/**
 * systemd's version, as `systemd-sysext --version` prints it, asked once per installed
 * systemd-sysext. Every plan needs it (the merge rules differ between releases, src/compat),
 * so every poll would start a process for an answer that changes only when systemd is
 * upgraded. The answer is kept in the agent's cache directory keyed by the executable's path
 * and the SHA-256 of its bytes (a package upgrade replaces it; a tool faked in a test differs
 * too): a poll that finds nothing new then starts no process at all. Without a cache directory,
 * or when the cache cannot be read or written, the tool is asked as before.
 *
 * node:child_process, not execa: execa takes longer to load than the query takes to run.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toolCandidates } from './tool-path.ts';

const TOOL = 'systemd-sysext';
const QUERY_TIMEOUT_MS = 60_000;
const CACHE_FILE = 'systemd-version.json';

/**
 * The agent's cache directory: systemd's `CacheDirectory=` for a unit ($CACHE_DIRECTORY, the
 * first entry), else the user's cache ($XDG_CACHE_HOME or ~/.cache, then sysext-agent/).
 * Never a directory other users can write. Also where bin/sysext-agent.js keeps Node's compile
 * cache (compile-cache/ below it).
 */
export function agentCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base ? join(base, 'sysext-agent') : undefined;
}

/** The first executable `name` on PATH, as execvp() would run it. */
async function onPath(name: string): Promise<string | undefined> {
  for (const file of toolCandidates(name)) {
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

/** First line "systemd 252 (252.39-1~deb12u2)": the full version in parentheses. */
export function parseVersionLine(stdout: string): string | null {
  const m = /^systemd (\d+)(?: \(([^)\s]+)\))?/.exec(stdout);
  return m ? (m[2] ?? m[1] ?? null) : null;
}

function ask(tool: string): Promise<string | null> {
  return new Promise((resolve) => {
    const child = execFile(
      tool,
      ['--version'],
      { timeout: QUERY_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout) => resolve(err ? null : parseVersionLine(stdout)),
    );
    child.stdin?.end();
  });
}

interface Entry {
  tool: string;
  sha256: string;
  version: string;
}

export async function systemdVersion(cacheDir = agentCacheDir()): Promise<string | null> {
  const tool = await onPath(TOOL);
  if (!tool) return null;
  if (!cacheDir) return ask(tool);
  const bytes = await readFile(tool).catch(() => null);
  if (!bytes) return ask(tool);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const file = join(cacheDir, CACHE_FILE);
  const cached = await readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as Partial<Entry>)
    .catch(() => null);
  if (cached?.tool === tool && cached.sha256 === sha256 && typeof cached.version === 'string') {
    if (parseVersionLine(`systemd 0 (${cached.version})`) === cached.version) return cached.version;
  }
  const version = await ask(tool);
  if (version !== null) {
    // Best effort: a cache that cannot be written only costs the next run this query.
    const entry: Entry = { tool, sha256, version };
    const tmp = `${file}.${process.pid}.tmp`;
    await mkdir(cacheDir, { recursive: true, mode: 0o700 })
      .then(() => writeFile(tmp, JSON.stringify(entry) + '\n'))
      .then(() => rename(tmp, file))
      .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  }
  return version;
}
