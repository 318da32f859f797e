/**
 * The metrics file after real runs of the CLI (`--root T`: stage and switch, no merge), read by
 * prometheus_client's parser: the series and values of a successful update, a failed one (the
 * repository is down) replacing the update's result but not check's, and an atomic replacement
 * (a new inode each time, no temp file left next to it).
 */
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.ts';
import { parseMetrics, parserMissing, valueOf, type Family } from './promparse.ts';

const METRICS = '/var/lib/node_exporter/textfile_collector/sysext-agent.prom';
const NO_PROXY_ENV = { http_proxy: '', HTTP_PROXY: '', https_proxy: '', HTTPS_PROXY: '' };
const noParser = await parserMissing();

describe.skipIf(noParser || missing('unsquashfs'))('metrics file after CLI runs', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  const root = () => join(sb.dir, 'root');
  const file = () => join(root(), METRICS);
  const agent = (...args: string[]) =>
    runCli(['--root', root(), '--json', '--log-level', 'silent', ...args], NO_PROXY_ENV);
  const read = async (): Promise<Family[]> => parseMetrics(await readFile(file(), 'utf8'));

  async function configure(repository: string): Promise<void> {
    await writeFile(
      join(root(), 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [repository],
        trustedKeys: sb.keysDir,
        extensions: { hello: {} },
        metrics: METRICS,
        network: { connectTimeoutSec: 2, idleTimeoutSec: 2, attempts: 1, maxTotalSec: 10 },
      }),
    );
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    const image = join(sb.images, 'hello_1.0.raw');
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), image);
    const published = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image]);
    expect(published.exitCode, published.stderr).toBe(0);
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await mkdir(join(root(), 'etc/sysext-agent'), { recursive: true });
    await configure(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('a successful update: last run, current version, bytes, duration, serial and expiry', async () => {
    const before = Date.now() / 1000;
    const run = await agent('update');
    expect(run.exitCode, run.stderr).toBe(0);
    const m = await read();
    expect(valueOf(m, 'sysext_agent_last_run_success', { command: 'update' })).toBe(1);
    expect(valueOf(m, 'sysext_agent_last_run_exit_code', { command: 'update' })).toBe(0);
    const at = valueOf(m, 'sysext_agent_last_run_timestamp_seconds', { command: 'update' }) ?? 0;
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now() / 1000);
    const took = valueOf(m, 'sysext_agent_last_run_duration_seconds', { command: 'update' }) ?? 0;
    expect(took).toBeGreaterThan(0);
    // The image (4096 bytes) and the manifest went over HTTP.
    const manifestBytes = (await stat(join(sb.repo, 'manifest.json'))).size;
    expect(valueOf(m, 'sysext_agent_last_run_downloaded_bytes', { command: 'update' })).toBe(
      4096 + manifestBytes,
    );
    expect(
      valueOf(m, 'sysext_agent_extension_last_run_success', {
        extension: 'hello',
        command: 'update',
      }),
    ).toBe(1);
    expect(
      valueOf(m, 'sysext_agent_extension_info', {
        extension: 'hello',
        kind: 'sysext',
        version: '1.0',
      }),
    ).toBe(1);
    expect(valueOf(m, 'sysext_agent_extension_quarantined_versions', { extension: 'hello' })).toBe(
      0,
    );
    const envelope = JSON.parse(await readFile(join(sb.repo, 'manifest.json'), 'utf8')) as {
      payload: string;
    };
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as {
      serial: number;
      expires: string;
    };
    expect(valueOf(m, 'sysext_agent_manifest_serial')).toBe(payload.serial);
    expect(valueOf(m, 'sysext_agent_manifest_expiry_timestamp_seconds')).toBe(
      Date.parse(payload.expires) / 1000,
    );
  });

  it('check, then an update against a repository that is down: the update reads failed, check is kept; atomic', async () => {
    expect((await agent('check')).exitCode).toBe(0);
    const checked = await read();
    const inode = (await stat(file())).ino;

    await configure('http://127.0.0.1:1/');
    const run = await agent('update');
    expect(run.exitCode).toBe(1);
    const m = await read();
    expect(valueOf(m, 'sysext_agent_last_run_success', { command: 'update' })).toBe(0);
    expect(valueOf(m, 'sysext_agent_last_run_exit_code', { command: 'update' })).toBe(1);
    expect(
      valueOf(m, 'sysext_agent_extension_last_run_success', {
        extension: 'hello',
        command: 'update',
      }),
    ).toBe(0);
    for (const series of [
      'sysext_agent_last_run_success',
      'sysext_agent_last_run_timestamp_seconds',
    ])
      expect(valueOf(m, series, { command: 'check' })).toBe(
        valueOf(checked, series, { command: 'check' }),
      );
    // The state did not change: still 1.0, same serial.
    expect(
      valueOf(m, 'sysext_agent_extension_info', {
        extension: 'hello',
        kind: 'sysext',
        version: '1.0',
      }),
    ).toBe(1);
    expect(valueOf(m, 'sysext_agent_manifest_serial')).toBe(
      valueOf(checked, 'sysext_agent_manifest_serial'),
    );
    // Replaced by a rename (a new inode), nothing but the file left in its directory.
    expect((await stat(file())).ino).not.toBe(inode);
    expect(await readdir(join(root(), '/var/lib/node_exporter/textfile_collector'))).toEqual([
      'sysext-agent.prom',
    ]);
    await configure(server.url);
  });

  it('vacuum is recorded too (run-level only); a bad metrics path is refused as CONFIG naming the field', async () => {
    expect((await agent('vacuum')).exitCode).toBe(0);
    const m = await read();
    expect(valueOf(m, 'sysext_agent_last_run_success', { command: 'vacuum' })).toBe(1);
    expect(
      valueOf(m, 'sysext_agent_extension_last_run_success', {
        extension: 'hello',
        command: 'vacuum',
      }),
    ).toBeUndefined();

    const config = join(sb.dir, 'relative.json');
    await writeFile(
      config,
      JSON.stringify({ repositories: [server.url], extensions: {}, metrics: 'metrics.prom' }),
    );
    const bad = await agent('--config', config, 'check');
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout).toContain('metrics');
  });
});
