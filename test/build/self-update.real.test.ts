/**
 * The agent as its own extension on systemd 252, in a private mount namespace (issue 9): placed
 * as plain files, the two images are merged, and the merged agent (on its own runtime) adopts
 * them and installs an extension; agent 1.0.1 published, the next run updates the agent itself
 * (its health check is the new agent's self-test); a broken 1.0.2 (its self-test fails) is
 * rolled back: exit 3, the agent stays 1.0.1, 1.0.2 quarantined.
 */
import { execa } from 'execa';
import { appendFile, copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing, REAL_MERGE } from '../helpers/requirements.ts';
import { buildImages, inNamespace, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip =
  process.arch !== 'x64'
    ? 'the agent images are tested on x86-64 hosts'
    : missing(...REAL_MERGE, 'unsquashfs');

const SQUASH = [
  '-noappend',
  '-all-root',
  '-no-xattrs',
  '-comp',
  'xz',
  '-mkfs-time',
  '0',
  '-all-time',
  '0',
];

describe.skipIf(skip)('the agent updates itself (systemd 252, private namespace)', () => {
  let sb: Sandbox;
  const out = (v: string) => join(sb.dir, `build-${v}/x86-64`);
  const agentImage = (v: string) => join(out(v), `sysext-agent_${v}.raw`);
  let nodeImage = '';

  async function build(version: string): Promise<void> {
    const r = await execa(
      process.execPath,
      [
        join(PROJECT, 'scripts/build-sysext.ts'),
        '--out',
        join(sb.dir, `build-${version}`),
        '--arch',
        'x86-64',
        '--agent-version',
        version,
      ],
      { cwd: PROJECT, reject: false, stdin: 'ignore' },
    );
    expect(r.exitCode, r.stderr).toBe(0);
  }

  /** 1.0.2 whose self-test fails: the bundle exits 1 for `self-test`, --version still works. */
  async function breakSelfTest(version: string): Promise<void> {
    const tree = join(sb.dir, `tree-${version}`);
    await execa('unsquashfs', ['-q', '-d', tree, agentImage(version)]);
    const bundle = join(tree, 'usr/lib/sysext-agent/sysext-agent.mjs');
    await appendFile(bundle, "\nif (process.argv.includes('self-test')) process.exit(1);\n");
    await rm(agentImage(version));
    await execa('mksquashfs', [tree, agentImage(version), ...SQUASH]);
  }

  const publish = async (...images: string[]) => {
    const r = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, ...images]);
    expect(r.exitCode, r.stderr).toBe(0);
  };

  /** One namespace: merge what the links say, run the merged agent, report values. */
  async function ns(...steps: string[]): Promise<Record<string, string>> {
    // The environment of a systemd service: no node on PATH but the host's /usr/bin v20.
    const agent = `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/bin/sysext-agent --config '${sb.configFile}' --log-level warn --json`;
    const script = [
      'systemd-sysext refresh >/dev/null 2>&1',
      ...steps.map((s) => s.replaceAll('AGENT', agent)),
      'systemd-sysext unmerge >/dev/null 2>&1; true',
    ].join('\n');
    const r = await inNamespace(sb, script);
    expect(r.exitCode, r.stderr).toBe(0);
    const values: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^([a-z0-9-]+)=(.*)$/.exec(line);
      if (m) values[m[1] as string] = m[2] as string;
    }
    return values;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    for (const v of ['1.0.0', '1.0.1', '1.0.2']) await build(v);
    await breakSelfTest('1.0.2');
    nodeImage = (await readFile(join(PROJECT, 'node_modules/node/package.json'), 'utf8')).match(
      /"version":\s*"([^"]+)"/,
    )?.[1] as string;
    nodeImage = join(out('1.0.0'), `sysext-agent-node_${nodeImage}.raw`);
    const [hello] = await buildImages(sb.images, ['1.0']);
    await sb.writeConfig({
      repositories: [sb.repo],
      extensions: {
        'sysext-agent': { healthTimeoutSec: 60 },
        'sysext-agent-node': {},
        hello: { healthCheck: ['/usr/bin/hello', '--selftest'] },
      },
    });
    await publish(agentImage('1.0.0'), nodeImage, hello as string);
    // Bootstrap: the images as plain files at their activation paths.
    const ext = join(sb.varLib, 'extensions');
    await mkdir(ext, { recursive: true });
    await copyFile(agentImage('1.0.0'), join(ext, 'sysext-agent.raw'));
    await copyFile(nodeImage, join(ext, 'sysext-agent-node.raw'));
  }, 900_000);
  afterAll(async () => {
    await sb?.cleanup();
  });

  const json = async (label: string) =>
    JSON.parse(await readFile(join(sb.dir, `${label}.json`), 'utf8'));
  const run = (label: string, args: string) =>
    `AGENT ${args} > '${sb.dir}/${label}.json'; echo "${label}=$?"`;
  const version = (key: string) => `echo "${key}=$(/usr/bin/sysext-agent --version)"`;

  it('bootstrap: the merged agent adopts its own images and installs hello', async () => {
    const v = await ns(version('before'), run('first', 'update'), 'echo "hello=$(/usr/bin/hello)"');
    expect(v.before).toBe('sysext-agent 1.0.0');
    expect(v.first).toBe('0');
    const report = await json('first');
    expect(report.extensions.hello).toMatchObject({ result: 'installed', to: '1.0' });
    expect(report.extensions['sysext-agent']).toMatchObject({
      from: '1.0.0',
      result: 'up-to-date',
    });
    expect(v.hello).toBe('hello 1.0');
  });

  it('agent 1.0.1 published: the next run updates the agent itself', async () => {
    await publish(agentImage('1.0.1'));
    const v = await ns(run('self', 'update'), version('after'));
    expect(v.self).toBe('0');
    expect((await json('self')).extensions['sysext-agent']).toMatchObject({
      from: '1.0.0',
      to: '1.0.1',
      result: 'updated',
    });
    expect(v.after).toBe('sysext-agent 1.0.1');
    // A new namespace is a reboot: the new agent is what merges.
    expect((await ns(version('rebooted'))).rebooted).toBe('sysext-agent 1.0.1');
  });

  it('a broken 1.0.2 (self-test fails) is rolled back: exit 3, 1.0.1 stays, 1.0.2 quarantined', async () => {
    await publish(agentImage('1.0.2'));
    const v = await ns(run('broken', 'update'), version('after'), run('status', 'status'));
    expect(v.broken).toBe('3');
    expect(v.after).toBe('sysext-agent 1.0.1');
    const status = await json('status');
    expect(status.extensions['sysext-agent']).toMatchObject({
      current: '1.0.1',
      quarantined: ['1.0.2'],
    });
  });
});
