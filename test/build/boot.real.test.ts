/**
 * The agent as its own extension on a really booted systemd 257 host (issue 9, PRODUCT.md
 * sections 7 and 8): a trixie tree without Node.js, booted with systemd-nspawn, each boot a
 * stage that reports what it saw. Bootstrap by placing files; the timer and its service; the
 * agent updating itself across a reboot; a broken agent rolled back; SIGKILL at every journal
 * step of a self-update followed by a reboot; and an image that breaks the boot-time merge,
 * taken out by the rescue.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, bootstrapAgent, makeHost, type Boot } from '../helpers/boot.ts';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing, REAL_MERGE } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip =
  process.arch !== 'x64'
    ? 'the agent images are tested on x86-64 hosts'
    : missing(...REAL_MERGE, 'unsquashfs', 'debootstrap', 'systemd-nspawn');

const SQUASH = ['-noappend', '-all-root', '-no-xattrs', '-comp', 'xz'];
const SQUASH_TIMES = ['-mkfs-time', '0', '-all-time', '0'];

/** Shell for every stage: `out KEY VALUE` reports, `A` is the agent on the merged /usr. */
const PRELUDE = `
out() { printf '%s=%s\\n' "$1" "$2" >> /root/out.txt; }
A=/usr/bin/sysext-agent
unit() { systemctl show -p "$2" --value "$1"; }
waitfor() { i=0; while [ $i -lt "$1" ]; do eval "$2" && return 0; i=$((i+1)); sleep 1; done; return 1; }
out node "$(command -v node || echo none)"
out version "$($A --version 2>&1)"
out timer "$(systemctl is-active sysext-agent-update.timer)"
out sysext "$(systemctl is-active systemd-sysext.service)"
out journal "$(test -e /var/lib/sysext-agent/journal.json && echo present || echo absent)"
out recover "$(unit sysext-agent-boot-recover.service ConditionResult)/$(unit sysext-agent-boot-recover.service Result)"
journalctl -b -o cat -u sysext-agent-boot-recover.service -u sysext-agent-rescue.service -u systemd-sysext.service
`;

/** A boot takes 5 to 15 s on a quiet 2-core machine, several times that under load. */
const PER_BOOT_MS = 120_000;

const CRASH_STEPS = [
  'begin',
  'switch:sysext-agent',
  'refresh',
  'prove',
  'health:sysext-agent',
  'commit',
];

describe.skipIf(skip)('the agent on a booted systemd 257 host (nspawn)', () => {
  let sb: Sandbox;
  let host = '';
  let nodeImage = '';
  const agentImage = (v: string) => join(sb.dir, `build-${v}/x86-64/sysext-agent_${v}.raw`);
  const repo = () => join(host, 'srv/repo');

  async function build(version: string): Promise<void> {
    const r = await execa(
      process.execPath,
      [
        join(PROJECT, 'scripts/build-sysext.ts'),
        ...['--out', join(sb.dir, `build-${version}`), '--arch', 'x86-64'],
        ...['--agent-version', version],
      ],
      { cwd: PROJECT, reject: false, stdin: 'ignore' },
    );
    expect(r.exitCode, r.stderr).toBe(0);
  }

  /** A version whose self-test fails (--version still works): its health check fails. */
  async function breakSelfTest(version: string): Promise<void> {
    const tree = join(sb.dir, `tree-${version}`);
    await execa('unsquashfs', ['-q', '-d', tree, agentImage(version)]);
    await appendFile(
      join(tree, 'usr/lib/sysext-agent/sysext-agent.mjs'),
      "\nif (process.argv.includes('self-test')) process.exit(1);\n",
    );
    await rm(agentImage(version));
    await execa('mksquashfs', [tree, agentImage(version), ...SQUASH, ...SQUASH_TIMES]);
  }

  const publish = async (...images: string[]) => {
    const r = await runCli(['publish', '--repo', repo(), '--key', sb.key, ...images]);
    expect(r.exitCode, r.stderr).toBe(0);
  };

  async function stage(script: string): Promise<Boot> {
    const b = await boot(host, `${PRELUDE}\n${script}`);
    // The console (boot messages and the stage's own output) explains any failure below.
    expect(b.exitCode, b.console).toBe(0);
    return b;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    host = join('/var/tmp', `sysext-agent-boot-${process.pid}`);
    await makeHost(host);
    for (const v of ['1.0.0', '1.0.1', '1.0.2', '1.0.3']) await build(v);
    await breakSelfTest('1.0.2');
    const nodeVersion = JSON.parse(
      await readFile(join(PROJECT, 'node_modules/node/package.json'), 'utf8'),
    ).version as string;
    nodeImage = join(sb.dir, `build-1.0.0/x86-64/sysext-agent-node_${nodeVersion}.raw`);
    const hello = await buildImages(sb.images, ['1.0', '2.0']);
    await mkdir(repo(), { recursive: true });
    await publish(agentImage('1.0.0'), nodeImage, hello[0] as string);
    // Bootstrap: images as plain files, keys and config in /etc; nothing else on the host.
    await bootstrapAgent(
      host,
      { agent: agentImage('1.0.0'), node: nodeImage },
      join(sb.keysDir, 'publisher.pub'),
    );
  }, 900_000);
  afterAll(async () => {
    await sb?.cleanup();
    if (host) await rm(host, { recursive: true, force: true });
  });

  it(
    'bootstrap: the merged agent runs without Node on the host, the timer is active, its service installs hello',
    async () => {
      const b = await stage(`
systemctl start sysext-agent-update.service; out service $?
out hello "$(/usr/bin/hello 2>&1)"
out hooks "$(ls /etc/systemd/system/sysext-agent-boot-recover.service /etc/systemd/system/sysext-agent-rescue.service /etc/systemd/system/systemd-sysext.service.d/sysext-agent-rescue.conf /var/lib/sysext-agent/boot/run-stored.sh | wc -l)"
out adopted "$(readlink /var/lib/extensions/sysext-agent.raw)"
`);
      expect(b.values, b.console).toMatchObject({
        node: 'none',
        version: 'sysext-agent 1.0.0',
        timer: 'active',
        sysext: 'active',
        service: '0',
        hello: 'hello 1.0',
        hooks: '4',
        adopted: '../sysext-agent/images/sysext-agent/sysext-agent_1.0.0.raw',
      });
    },
    PER_BOOT_MS,
  );

  it(
    "the timer's own run (OnBootSec shortened by a drop-in) updates hello",
    async () => {
      await publish(hello2());
      const dropIn = join(host, 'etc/systemd/system/sysext-agent-update.timer.d');
      await mkdir(dropIn, { recursive: true });
      await writeFile(
        join(dropIn, 'short.conf'),
        '[Timer]\nOnBootSec=\nOnBootSec=5s\nRandomizedDelaySec=0\n',
      );
      const b = await stage(`
waitfor 120 '[ "$(unit sysext-agent-update.service ExecMainExitTimestampMonotonic)" != 0 ]'
out result "$(unit sysext-agent-update.service Result)"
out triggered "$(unit sysext-agent-update.timer LastTriggerUSec)"
out hello "$(/usr/bin/hello 2>&1)"
`);
      await rm(dropIn, { recursive: true });
      expect(b.values, b.console).toMatchObject({ result: 'success', hello: 'hello 2.0' });
      expect(b.values.triggered, b.console).not.toBe('');
      expect(b.values.triggered).not.toBe('n/a');
    },
    PER_BOOT_MS,
  );

  function hello2(): string {
    return join(sb.images, 'hello_2.0.raw');
  }

  it(
    'agent 1.0.1 published: the next run updates the agent itself, and the new agent runs after a reboot',
    async () => {
      await publish(agentImage('1.0.1'));
      const run = await stage(`
systemctl start sysext-agent-update.service; out service $?
out after "$($A --version 2>&1)"
`);
      expect(run.values, run.console).toMatchObject({ service: '0', after: 'sysext-agent 1.0.1' });
      const rebooted = await stage('');
      expect(rebooted.values, rebooted.console).toMatchObject({
        version: 'sysext-agent 1.0.1',
        timer: 'active',
      });
    },
    2 * PER_BOOT_MS,
  );

  it(
    'a broken 1.0.2 (its self-test fails) is rolled back: exit 3, 1.0.1 stays, 1.0.2 quarantined',
    async () => {
      await publish(agentImage('1.0.2'));
      const b = await stage(`
$A --json update > /root/broken.json; out broken $?
out after "$($A --version 2>&1)"
out quarantined "$($A --json status | tr -d ' \\n' | grep -o '"sysext-agent":{[^}]*}' | grep -o '"quarantined":\\[[^]]*\\]')"
`);
      expect(b.values, b.console).toMatchObject({
        broken: '3',
        after: 'sysext-agent 1.0.1',
        quarantined: '"quarantined":["1.0.2"]',
      });
    },
    PER_BOOT_MS,
  );

  it(
    'SIGKILL at each journal step of a self-update, then a reboot: a working agent, recovery complete',
    async () => {
      await publish(agentImage('1.0.3'));
      const seen: Record<string, Boot> = {};
      let previous = '';
      for (const step of [...CRASH_STEPS, 'after-all']) {
        const kill =
          step === 'after-all'
            ? ''
            : `SYSEXT_AGENT_TEST_CRASH_AT='${step}' $A update sysext-agent@1.0.3; out killed $?`;
        const b = await stage(kill);
        if (previous) seen[previous] = b;
        // The kill really happened where asked: SIGKILL (128 + 9) with the journal left behind.
        if (kill) expect(b.values.killed, `${step}\n${b.console}`).toBe('137');
        previous = step;
      }
      for (const step of CRASH_STEPS) {
        const { values: v, console } = seen[step] as Boot;
        expect(v, `after a kill at ${step}:\n${console}`).toMatchObject({
          journal: 'absent',
          recover: 'yes/success',
          sysext: 'active',
          timer: 'active',
        });
        // Before the commit the way back is taken; a kill after `commit` is journaled completes.
        expect(v.version, step).toBe(
          step === 'commit' ? 'sysext-agent 1.0.3' : 'sysext-agent 1.0.1',
        );
      }
    },
    7 * PER_BOOT_MS,
  );

  it(
    'an image that breaks the boot-time merge: the rescue takes it out, and the next boot merges everything again',
    async () => {
      const planted = join(host, 'var/lib/extensions/planted.raw');
      await writeFile(planted, randomBytes(1 << 20));
      const failed = await stage(`
waitfor 120 '[ "$(unit sysext-agent-rescue.service ActiveState)" != activating ] && [ "$(unit sysext-agent-rescue.service ExecMainExitTimestampMonotonic)" != 0 ]'
out rescue "$(unit sysext-agent-rescue.service Result)"
out planted "$(test -e /var/lib/extensions/planted.raw && echo present || echo gone)"
out moved "$(ls /var/lib/sysext-agent/rescued/sysext/)"
out merged-now "$($A --version 2>&1)"
`);
      expect(failed.values, failed.console).toMatchObject({
        sysext: 'failed',
        rescue: 'success',
        planted: 'gone',
        moved: 'planted.raw',
        'merged-now': 'sysext-agent 1.0.3',
      });
      const rebooted = await stage(`out hello "$(/usr/bin/hello 2>&1)"`);
      expect(rebooted.values, rebooted.console).toMatchObject({
        sysext: 'active',
        version: 'sysext-agent 1.0.3',
        timer: 'active',
        hello: 'hello 2.0',
      });
    },
    2 * PER_BOOT_MS,
  );
});
