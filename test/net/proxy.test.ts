/**
 * Proxies from the standard environment variables, against a real proxy (tinyproxy, Debian
 * package tinyproxy): the real CLI `update`/`check` with --root (no merge: --root without
 * --refresh only switches symlinks), the repository on the in-process fault server
 * (test/helpers/fault-server.ts), which counts what it really received. The proxy's own log
 * shows which requests went through it.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, runCli, type CliResult } from '../helpers/cli.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { freePort, startTinyproxy, type RunningProxy } from '../helpers/proxy.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const SIZE = 4 * 1024 * 1024;
const IMAGE = '/repo/hello/hello_1.0.raw';
const NO_PROXY_ENV = {
  http_proxy: '',
  HTTP_PROXY: '',
  https_proxy: '',
  HTTPS_PROXY: '',
  no_proxy: '',
  NO_PROXY: '',
};

interface Run extends CliResult {
  code: string | undefined;
  message: string | undefined;
  ms: number;
}

describe.skipIf(missing('tinyproxy', 'unsquashfs', 'openssl'))('through a real proxy', () => {
  let sb: Sandbox;
  let www: string;
  let server: FaultServer;
  let proxy: RunningProxy;
  let hosts = 0;

  /** A fresh host (trust store only) and its config; `run` runs the CLI in it with `env`. */
  async function host(repository: string, network: Record<string, number> = {}) {
    const root = join(sb.dir, `host-${++hosts}`);
    await mkdir(join(root, 'etc/sysext-agent/keys'), { recursive: true });
    await copyFile(
      join(sb.keysDir, 'publisher.pub'),
      join(root, 'etc/sysext-agent/keys/publisher.pub'),
    );
    const config = join(sb.dir, `config-${hosts}.json`);
    await writeFile(
      config,
      JSON.stringify({
        repositories: [repository],
        extensions: { hello: {} },
        network: {
          connectTimeoutSec: 2,
          idleTimeoutSec: 2,
          attempts: 2,
          maxTotalSec: 30,
          ...network,
        },
      }),
    );
    const run = async (command: string, env: Record<string, string>): Promise<Run> => {
      const started = Date.now();
      const r = await runCli(
        ['--root', root, '--config', config, '--json', '--log-level', 'silent', command],
        { ...NO_PROXY_ENV, ...env },
      );
      const error = (JSON.parse(r.stdout || '{}') as { error?: { code: string; message: string } })
        .error;
      return { ...r, code: error?.code, message: error?.message, ms: Date.now() - started };
    };
    const link = () => readlink(join(root, 'var/lib/extensions/hello.raw')).catch(() => null);
    return { root, run, link };
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    www = join(sb.dir, 'www');
    // A real squashfs image padded to SIZE (unsquashfs reads no further than its file system).
    const image = join(sb.images, 'hello_1.0.raw');
    const fs = await readFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'));
    await writeFile(image, Buffer.concat([fs, randomBytes(SIZE - fs.length)]));
    const published = await runCli([
      'publish',
      '--repo',
      join(www, 'repo'),
      '--key',
      sb.key,
      image,
    ]);
    expect(published.exitCode, published.stderr).toBe(0);
    expect(existsSync(join(www, normalize(IMAGE)))).toBe(true);
    server = await startFaultServer(www);
    proxy = await startTinyproxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await server?.close();
    await sb?.cleanup();
  });

  it('HTTP_PROXY: update and check go through the proxy (its log shows each request)', async () => {
    const h = await host(`${server.url}repo/`);
    await proxy.clear();
    const update = await h.run('update', { HTTP_PROXY: proxy.url });
    expect(update.exitCode, update.stderr).toBe(0);
    expect(await h.link()).toContain('hello_1.0.raw');
    const check = await h.run('check', { http_proxy: proxy.url });
    expect(check.exitCode, check.stderr).toBe(0);
    // Each run first probes for the next keys document (PRODUCT.md 3.2), then the manifest.
    expect(await proxy.requests()).toEqual([
      `GET ${server.url}repo/keys/1.json`,
      `GET ${server.url}repo/manifest.json`,
      `GET ${server.url}repo/hello/hello_1.0.raw`,
      `GET ${server.url}repo/keys/1.json`,
      `GET ${server.url}repo/manifest.json`,
    ]);
  });

  it('NO_PROXY naming the repository host bypasses the proxy', async () => {
    const h = await host(`${server.url}repo/`);
    await proxy.clear();
    server.resetStats();
    const update = await h.run('update', {
      HTTP_PROXY: proxy.url,
      NO_PROXY: 'localhost,127.0.0.1',
    });
    expect(update.exitCode, update.stderr).toBe(0);
    expect(await h.link()).toContain('hello_1.0.raw');
    expect(server.stats(IMAGE).statuses).toEqual([200]);
    expect(await proxy.requests()).toEqual([]);
  });

  it('a proxy that is down: NETWORK naming the proxy and its variable, exit 1 at once, host untouched', async () => {
    const h = await host(`${server.url}repo/`, { attempts: 5 });
    const before = await snapshot(h.root);
    server.resetStats();
    const down = `http://127.0.0.1:${await freePort()}`;
    const run = await h.run('update', { HTTP_PROXY: down });
    expect(run.exitCode).toBe(1);
    expect(run.code).toBe('NETWORK');
    expect(run.message).toContain(`proxy ${down} (HTTP_PROXY)`);
    expect(run.message).toMatch(/refused.*is the proxy running/);
    // The repository is not blamed, and the URL is named once.
    expect(run.message).not.toContain('is the server running');
    expect(run.message?.split(`${server.url}repo/manifest.json`).length).toBe(2);
    expect(server.totalRequests()).toBe(0);
    expect(await snapshot(h.root)).toEqual(before);
  });

  it('Range/resume goes through the proxy: a cut download is completed with only the rest', async () => {
    const h = await host(`${server.url}repo/`, { attempts: 1 });
    server.setFault(IMAGE, { cutAfter: SIZE / 2, times: 1 });
    const first = await h.run('update', { HTTP_PROXY: proxy.url });
    server.clearFaults();
    expect(first.exitCode).toBe(1);
    const partial = join(h.root, 'var/lib/sysext-agent/partial/hello_1.0.raw.part');
    const have = (await stat(partial)).size;
    expect(have).toBeGreaterThan(0);
    server.resetStats();
    await proxy.clear();
    const second = await h.run('update', { HTTP_PROXY: proxy.url });
    expect(second.exitCode, second.stderr).toBe(0);
    const s = server.stats(IMAGE);
    expect(s.statuses).toEqual([206]);
    expect(s.headers[0]?.range).toBe(`bytes=${have}-`);
    expect(s.bodyBytes).toBe(SIZE - have);
    expect(await proxy.requests()).toContain(`GET ${server.url}repo/hello/hello_1.0.raw`);
  });

  it('the idle timeout still applies through the proxy: a stalled body fails after idleTimeoutSec', async () => {
    const h = await host(`${server.url}repo/`, { attempts: 1, idleTimeoutSec: 1 });
    server.setFault(IMAGE, { stallAfter: 64 * 1024 });
    const run = await h.run('update', { HTTP_PROXY: proxy.url });
    server.clearFaults();
    expect(run.exitCode).toBe(1);
    expect(run.code).toBe('NETWORK');
    // undici's default would be 300 s; tinyproxy's own Timeout is 60 s.
    expect(run.ms).toBeLessThan(15_000);
  });

  describe('https through the proxy (CONNECT)', () => {
    let https: Server;
    let tls: string;

    beforeAll(async () => {
      tls = join(sb.dir, 'tls');
      await mkdir(tls);
      const cert = await execa(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(tls, 'key.pem'),
          '-out',
          join(tls, 'cert.pem'),
        ],
        { reject: false },
      );
      expect(cert.exitCode, cert.stderr).toBe(0);
      // A plain static server over TLS for the same tree.
      https = createHttpsServer(
        { key: await readFile(join(tls, 'key.pem')), cert: await readFile(join(tls, 'cert.pem')) },
        (req, res) => {
          const path = join(www, normalize(new URL(req.url ?? '/', 'https://x').pathname));
          readFile(path).then(
            (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
            () => res.writeHead(404).end(),
          );
        },
      );
      await new Promise<void>((ok) => https.listen(0, '127.0.0.1', ok));
    });

    afterAll(async () => {
      https?.closeAllConnections();
      await new Promise<void>((ok) => (https ? https.close(() => ok()) : ok()));
    });

    it('HTTPS_PROXY: the update tunnels through the proxy (CONNECT in its log)', async () => {
      const { port } = https.address() as AddressInfo;
      const h = await host(`https://127.0.0.1:${port}/repo/`);
      await proxy.clear();
      const run = await h.run('update', {
        HTTPS_PROXY: proxy.url,
        NODE_EXTRA_CA_CERTS: join(tls, 'cert.pem'),
      });
      expect(run.exitCode, run.stderr).toBe(0);
      expect(await h.link()).toContain('hello_1.0.raw');
      const requests = await proxy.requests();
      expect(requests.length).toBeGreaterThan(0);
      expect(new Set(requests)).toEqual(new Set([`CONNECT 127.0.0.1:${port}`]));
    });
  });
});
