/**
 * Acceptance: a new version that fails its health check (PRODUCT.md section 1 step 9). The real
 * systemd-sysext merges it inside a private mount namespace, the health check runs the merged
 * binary and fails, and the agent switches back, refreshes, quarantines the bad version and
 * exits 3. The quarantined version is not retried unattended, only with --allow-quarantined.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCommand, runCli } from '../helpers/cli.ts';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { missingFor } from '../helpers/requirements.ts';
import {
  buildImages,
  inNamespace,
  makeSandbox,
  snapshot,
  type Sandbox,
} from '../helpers/sandbox.ts';

const skip = missingFor('merge');

interface NsResult {
  /** `KEY=VALUE` lines the script printed. */
  values: Record<string, string>;
  stderr: string;
}

/** A sandbox host with nginx serving its repository, and shell snippets for the namespace. */
async function host(): Promise<{
  sb: Sandbox;
  nginx: RunningNginx;
  run: (label: string, args: string) => string;
  ns: (...steps: string[]) => Promise<NsResult>;
  json: (label: string) => Promise<Record<string, unknown>>;
  publish: (image: string) => Promise<void>;
}> {
  const sb = await makeSandbox();
  const nginx = await startNginx(sb.repo);
  await sb.writeConfig({
    repositories: [nginx.url],
    extensions: { hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 } },
  });
  const agent = (args: string): string =>
    `${cliCommand()} --config '${sb.configFile}' --log-level warn ${args}`;
  return {
    sb,
    nginx,
    /** Runs the agent, its JSON document to DIR/LABEL.json, its exit code as `LABEL=CODE`. */
    run: (label, args) =>
      `${agent(`--json ${args}`)} > '${sb.dir}/${label}.json'; echo "${label}=$?"`,
    /** One fresh namespace (it starts unmerged, like a host at boot); unmerged again at the end. */
    ns: async (...steps) => {
      const r = await inNamespace(
        sb,
        [...steps, 'systemd-sysext unmerge >/dev/null 2>&1; true'].join('\n'),
      );
      if (r.exitCode !== 0) throw new Error(`namespace script failed (${r.exitCode}): ${r.stderr}`);
      const values: Record<string, string> = {};
      for (const line of r.stdout.split('\n')) {
        const m = /^([a-z][a-z0-9-]*)=(.*)$/.exec(line);
        if (m) values[m[1] as string] = m[2] as string;
      }
      return { values, stderr: r.stderr };
    },
    json: async (label) =>
      JSON.parse(await readFile(join(sb.dir, `${label}.json`), 'utf8')) as Record<string, unknown>,
    publish: async (image) => {
      const r = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image]);
      expect(r.exitCode, r.stderr).toBe(0);
    },
  };
}

const hello = `echo "hello=$(/usr/bin/hello 2>/dev/null)"`;
const selftest = `/usr/bin/hello --selftest >/dev/null 2>&1; echo "selftest=$?"`;
const present = (path: string): string => `test -e '${path}'; echo "present=$?"`;

describe.skipIf(skip)('an update that fails its health check', () => {
  let h: Awaited<ReturnType<typeof host>>;
  beforeAll(async () => {
    h = await host();
  });
  afterAll(async () => {
    await h?.nginx.stop();
    await h?.sb.cleanup();
  });
  const untouched = async (): Promise<Record<string, unknown>> => ({
    extensions: await snapshot(join(h.sb.varLib, 'extensions')),
    images: await snapshot(join(h.sb.varLib, 'sysext-agent/images')),
  });

  it('v1 is installed and merged', async () => {
    const [v1] = await buildImages(h.sb.images, ['1.0']);
    await h.publish(v1 as string);
    const r = await h.ns(h.run('update1', 'update'), hello);
    expect(r.values.update1, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
  });

  it('a v2 that fails its health check is rolled back (exit 3) and quarantined', async () => {
    const [v2] = await buildImages(h.sb.images, ['2.0'], { healthFail: true });
    await h.publish(v2 as string);
    const r = await h.ns(h.run('update2', 'update'), hello, selftest, h.run('status2', 'status'));
    expect(r.values.update2, r.stderr).toBe('3');
    // The same namespace: the way back was refreshed, v1 is what is merged now.
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.selftest).toBe('0');
    expect(await h.json('update2')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: '1.0', to: '2.0', result: 'failed' } },
    });
    const status = await h.json('status2');
    expect(status).toMatchObject({
      extensions: {
        hello: {
          kind: 'sysext',
          current: '1.0',
          quarantined: ['2.0'],
          quarantine: [{ version: '2.0', reason: expect.any(String), at: expect.any(String) }],
          lastResult: { ok: false },
        },
      },
    });
    const q = (status as { extensions: { hello: { quarantine: { reason: string }[] } } }).extensions
      .hello.quarantine[0];
    expect(q?.reason.length).toBeGreaterThan(0);
  });

  it('the next update leaves the quarantined v2 alone: exit 0, v1 stays', async () => {
    const before = await untouched();
    const r = await h.ns(
      h.run('update3', 'update'),
      'systemd-sysext refresh >/dev/null',
      hello,
      h.run('status3', 'status'),
    );
    expect(r.values.update3, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(await h.json('update3')).toMatchObject({
      exitCode: 0,
      extensions: { hello: { result: 'up-to-date' } },
    });
    expect(await h.json('status3')).toMatchObject({
      extensions: { hello: { current: '1.0', quarantined: ['2.0'] } },
    });
    expect(await untouched()).toEqual(before);
  });

  it('--allow-quarantined retries v2 on purpose; still broken, so exit 3 again', async () => {
    const r = await h.ns(
      h.run('retry', 'update --allow-quarantined hello'),
      hello,
      selftest,
      h.run('status4', 'status'),
    );
    expect(r.values.retry, r.stderr).toBe('3');
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.selftest).toBe('0');
    expect(await h.json('retry')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: '1.0', to: '2.0', result: 'failed' } },
    });
    expect(await h.json('status4')).toMatchObject({
      extensions: { hello: { current: '1.0', quarantined: ['2.0'] } },
    });
  });

  it('a healthy v3 is installed past the quarantined v2', async () => {
    const [v3] = await buildImages(h.sb.images, ['3.0']);
    await h.publish(v3 as string);
    const r = await h.ns(h.run('update5', 'update'), hello, h.run('status5', 'status'));
    expect(r.values.update5, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 3.0');
    expect(await h.json('update5')).toMatchObject({
      extensions: { hello: { from: '1.0', to: '3.0', result: 'updated' } },
    });
    expect(await h.json('status5')).toMatchObject({
      extensions: { hello: { current: '3.0', previous: '1.0' } },
    });
  });
});

describe.skipIf(skip)('a first install that fails its health check', () => {
  let h: Awaited<ReturnType<typeof host>>;
  beforeAll(async () => {
    h = await host();
  });
  afterAll(async () => {
    await h?.nginx.stop();
    await h?.sb.cleanup();
  });

  it('exits 3 and leaves the extension inactive', async () => {
    const [v1] = await buildImages(h.sb.images, ['1.0'], { healthFail: true });
    await h.publish(v1 as string);
    const r = await h.ns(
      h.run('install', 'update'),
      present('/usr/bin/hello'),
      h.run('status', 'status'),
    );
    expect(r.values.install, r.stderr).toBe('3');
    expect(r.values.present).toBe('1');
    await expect(lstat(join(h.sb.varLib, 'extensions/hello.raw'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await h.json('install')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: null, to: '1.0', result: 'failed' } },
    });
    expect(await h.json('status')).toMatchObject({
      extensions: { hello: { current: null, previous: null, quarantined: ['1.0'] } },
    });
  });
});
