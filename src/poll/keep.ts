/**
 * Writes the poll record (./record.ts) at the end of an `update` that had nothing to do, still
 * under the lock, so that nothing changes between the run's reads and their fingerprint; and
 * removes the record after any other `update`. The inputs are every file and directory the
 * plan of a quiet run reads (src/commands/update.ts): configuration, trust store, state
 * directory (state, trust.json, manifest cache, journal, store, partial downloads), activation
 * directories, os-release, machine id, the boot hooks, the systemd tools on PATH (their version
 * decides compatibility rules) and the agent's own code.
 */
import { existsSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { underRoot, type HostPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { warningsLogged } from '../cli/log/create.ts';
import type { FetchedManifest } from '../commands/manifest-source.ts';
import { chase, osReleaseCandidates } from '../host/facts.ts';
import { keysDocumentPath } from '../manifest/rotation.ts';
import { conditionalHeaders } from '../net/validators.ts';
import { bootHookPaths } from '../self/boot-hooks.ts';
import { toolCandidates } from '../systemd/tool-path.ts';
import { writeFileAtomic } from '../store/atomic.ts';
import { fingerprint } from './fingerprint.ts';
import {
  agentIdentity,
  codeFile,
  envInputs,
  MAX_RECORD_AGE_MS,
  nodeIdentity,
  PROXY_VARIABLES,
  RECORD_FORMAT,
  type PollRecord,
} from './record.ts';

export interface QuietRun {
  paths: HostPaths;
  config: Config;
  /** The configuration file as given (--config) or the default. */
  configFile: string;
  argv: readonly string[];
  manifest: FetchedManifest;
  stdout: string;
  log: Logger;
}

/** Why this run cannot answer the next poll; null when it can. */
function unfit(run: QuietRun): string | null {
  const { config, manifest } = run;
  if (config.metrics) return 'metrics are written after every run';
  if (PROXY_VARIABLES.some((v) => process.env[v])) return 'a proxy is configured';
  if (manifest.baseUrl !== config.repositories[0]) return 'the first repository did not answer';
  if (!/^https?:$/.test(new URL(manifest.url).protocol)) return 'the repository is not HTTP';
  if (Object.keys(conditionalHeaders(manifest.validators)).length === 0)
    return 'the repository sends no ETag or Last-Modified';
  if (warningsLogged() > 0) return 'the run logged warnings';
  return null;
}

async function inputsOf(run: QuietRun): Promise<string[]> {
  const { paths, config } = run;
  const osRelease = osReleaseCandidates();
  const chased = await Promise.all(osRelease.map((c) => chase(paths.root, c)));
  const tools = toolCandidates('systemd-sysext');
  const trust = underRoot(paths, config.trustedKeys);
  const all = [
    codeFile(),
    resolve(run.configFile),
    trust,
    ...(paths.root !== '/' && !existsSync(trust) ? [config.trustedKeys] : []),
    paths.stateDir,
    paths.sysextDir,
    paths.confextDir,
    ...osRelease.map((c) => join(paths.root, c)),
    ...chased,
    join(paths.root, 'etc/machine-id'),
    ...bootHookPaths(paths),
    ...tools,
    ...tools.filter((t) => existsSync(t)).map((t) => realpathSync(t)),
  ];
  return [...new Set(all)];
}

function recordOf(run: QuietRun, inputs: string[]): PollRecord {
  const { manifest, paths, config } = run;
  const now = Date.now();
  // The lock is held now and absent when the record is read; the record is not its own input.
  const skip = [paths.lockFile, paths.pollRecordFile];
  const keys = new URL(keysDocumentPath(manifest.keys.set.version + 1), manifest.baseUrl).href;
  return {
    format: RECORD_FORMAT,
    agent: agentIdentity(),
    node: nodeIdentity(),
    argv: [...run.argv],
    cwd: process.cwd(),
    env: envInputs(),
    writtenAt: now,
    validUntil: Math.min(Date.parse(manifest.payload.expires), now + MAX_RECORD_AGE_MS),
    inputs,
    skip,
    fingerprint: fingerprint(inputs, skip),
    absent: [paths.lockFile],
    requests: [
      { url: keys, headers: {}, status: 404 },
      { url: manifest.url, headers: conditionalHeaders(manifest.validators), status: 304 },
    ],
    timeouts: {
      connectMs: config.network.connectTimeoutSec * 1000,
      idleMs: config.network.idleTimeoutSec * 1000,
    },
    stdout: run.stdout,
    about: `manifest serial ${manifest.payload.serial} from ${manifest.url}`,
  };
}

/**
 * Keeps the record of this quiet run, unless it could not answer the next one: then the last
 * record is removed (it would not match this run's inputs anyway, this only keeps it tidy). Failing to write it costs the next poll its speed,
 * nothing else: logged at debug.
 */
export async function keepPollRecord(run: QuietRun): Promise<void> {
  const why = unfit(run);
  if (why) {
    run.log.debug(`no poll record: ${why}`);
    await rm(run.paths.pollRecordFile, { force: true }).catch(() => undefined);
    return;
  }
  try {
    const record = recordOf(run, await inputsOf(run));
    await writeFileAtomic(run.paths.pollRecordFile, JSON.stringify(record), 0o600);
  } catch (err) {
    run.log.debug(`no poll record: ${(err as Error).message}`);
  }
}
