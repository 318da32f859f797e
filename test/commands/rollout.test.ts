/**
 * A phased rollout end to end through the CLI (`--root`, a repository in a local directory, no
 * root): 2.0 published at 0% is held back "by rollout (bucket B, rollout 0%)" with this host's
 * bucket; raising it to B+1 with the `rollout` command lets the host take it; lowering it again
 * leaves a host that is already on it alone.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutBucket } from '../../src/plan/rollout.ts';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip = missing('unsquashfs');
const MACHINE_ID = '5c0f5e0b2d7a4e1f9a3b8c6d4e2f1a0b';

describe.skipIf(skip)('phased rollout through the CLI', () => {
  let sb: Sandbox;
  let root: string;
  const bucket = rolloutBucket(MACHINE_ID, 'hello', '2.0');
  const agent = (...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);
  const hello = async (...args: string[]) => {
    const r = await agent(...args);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout).extensions.hello;
  };

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await writeFile(join(root, 'etc/machine-id'), `${MACHINE_ID}\n`);
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [sb.repo],
        trustedKeys: sb.keysDir,
        extensions: { hello: {} },
      }),
    );
    for (const [version, extra] of [
      ['1.0', []],
      ['2.0', ['--rollout', '0']],
    ] as const) {
      const image = join(sb.images, `hello_${version}.raw`);
      await copyFile(join(PROJECT, `fixtures/images/hello_${version}.raw`), image);
      const r = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, ...extra, image]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  const rollout = async (percent: number) => {
    const r = await runCli([
      'rollout',
      '--repo',
      sb.repo,
      '--key',
      sb.key,
      'hello',
      '2.0',
      String(percent),
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
  };

  it('at 0% the host installs 1.0 and holds 2.0 back with its bucket', async () => {
    const r = await hello('update');
    expect(r).toMatchObject({ to: '1.0', result: 'staged' });
    expect(r.heldBack).toEqual([
      {
        version: '2.0',
        cause: 'rollout',
        reason: `held back by rollout (bucket ${bucket}, rollout 0%)`,
      },
    ]);
  });

  it('at bucket% still held back; at bucket+1% the host takes 2.0', async () => {
    await rollout(bucket);
    expect((await hello('check')).available).toBe('1.0');
    await rollout(bucket + 1);
    expect(await hello('check')).toMatchObject({ available: '2.0', action: 'update' });
    expect(await hello('update')).toMatchObject({ from: '1.0', to: '2.0', result: 'staged' });
  });

  it('lowered again, a host already on 2.0 keeps it', async () => {
    await rollout(0);
    expect(await hello('update')).toMatchObject({ from: '2.0', to: '2.0', result: 'up-to-date' });
  });
});
