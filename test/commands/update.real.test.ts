/**
 * Acceptance: publish two versions with the CLI, serve them with a real nginx, and update inside
 * a private mount namespace where the real systemd-sysext merges; the merged binary prints the
 * new version and `status --json` has the contract's shape.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { cliCommand, runCli } from '../helpers/cli.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages, inNamespace, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

describe.skipIf(skip)('update with the real systemd-sysext', () => {
  let sb: Sandbox;
  let nginx: RunningNginx;

  beforeAll(async () => {
    sb = await makeSandbox();
    nginx = await startNginx(sb.repo);
    await sb.writeConfig({
      repositories: [nginx.url],
      extensions: {
        hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
      },
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await sb?.cleanup();
  });

  const agent = (args: string): string =>
    `${cliCommand()} --config '${sb.configFile}' --log-level warn ${args}`;

  /**
   * One namespace: update, run the merged binary, read status, unmerge. Each namespace starts
   * unmerged, as a host does before systemd-sysext.service runs at boot; `thenRefresh` merges what
   * the activation symlinks point at, as that service would.
   */
  async function updateAndRun(
    thenRefresh = '',
  ): Promise<{ update: number; hello: string; status: unknown }> {
    const r = await inNamespace(
      sb,
      `${agent('update --json')} > '${sb.dir}/update.json'; echo "update=$?"
       ${thenRefresh}
       /usr/bin/hello
       ${agent('status --json')} > '${sb.dir}/status.json'
       systemd-sysext unmerge >/dev/null 2>&1; true`,
    );
    const lines = r.stdout.split('\n');
    const code = Number(lines.find((l) => l.startsWith('update='))?.slice('update='.length));
    return {
      update: code,
      hello: lines.filter((l) => l.startsWith('hello ')).join('\n'),
      status: JSON.parse(await readFile(join(sb.dir, 'status.json'), 'utf8')),
    };
  }

  it('installs v1, then updates to v2, each really merged', async () => {
    const [v1, v2] = await buildImages(sb.images, ['1.0', '2.0']);
    const pub1 = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, v1 as string]);
    expect(pub1.exitCode).toBe(0);

    const first = await updateAndRun();
    expect(first.update).toBe(0);
    expect(first.hello).toBe('hello 1.0');
    expect(first.status).toMatchObject({
      extensions: {
        hello: {
          kind: 'sysext',
          current: '1.0',
          previous: null,
          installed: ['1.0'],
          quarantined: [],
        },
      },
      manifest: { serial: 1, expires: expect.any(String) },
    });

    const pub2 = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, v2 as string]);
    expect(pub2.exitCode).toBe(0);
    const second = await updateAndRun();
    expect(second.update).toBe(0);
    expect(second.hello).toBe('hello 2.0');
    expect(second.status).toMatchObject({
      extensions: {
        hello: {
          kind: 'sysext',
          current: '2.0',
          previous: '1.0',
          installed: ['1.0', '2.0'],
          quarantined: [],
        },
      },
      manifest: { serial: 2 },
    });
  });

  it('an update with nothing new exits 0 and leaves v2 activated', async () => {
    const again = await updateAndRun('systemd-sysext refresh >/dev/null');
    expect(again.update).toBe(0);
    expect(again.hello).toBe('hello 2.0');
    const report = JSON.parse(await readFile(join(sb.dir, 'update.json'), 'utf8'));
    expect(report.extensions.hello.result).toBe('up-to-date');
  });
});
