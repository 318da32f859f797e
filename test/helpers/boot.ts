/**
 * A really booted systemd 257 host (PRODUCT.md section 7): a Debian trixie tree with
 * systemd-sysv and dbus, debootstrapped once per machine and kept, copied fresh for each test
 * file, and booted with systemd-nspawn. The host's systemd-sysext.service is enabled (Debian does
 * not), and a oneshot `acceptance.service` runs `/root/stage.sh` after multi-user.target, then
 * powers off. A stage reports `key=value` lines into /root/out.txt, which `boot` returns. Booting
 * the same tree again is a reboot.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { debianMirror } from './trixie.ts';

export const BOOT_TREE = process.env.SYSEXT_AGENT_BOOT_TREE ?? '/var/tmp/sysext-agent-trixie-boot';
const MARKER = '.sysext-agent-complete';
// The kernel hands out the lowest free loop device; other tests may hold some at the same time.
const LOOPS = 32;

/** The pristine tree, debootstrapped on first use (about a minute) and reused afterwards. */
export async function bootTree(): Promise<string> {
  if (existsSync(join(BOOT_TREE, MARKER))) return BOOT_TREE;
  await rm(BOOT_TREE, { recursive: true, force: true });
  await mkdir(dirname(BOOT_TREE), { recursive: true });
  const mirror = await debianMirror();
  const include = '--include=systemd,systemd-sysv,dbus';
  await execa('debootstrap', ['--variant=minbase', include, 'trixie', BOOT_TREE, mirror], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await writeFile(join(BOOT_TREE, MARKER), `${mirror}\n`);
  return BOOT_TREE;
}

const ACCEPTANCE_UNIT = `[Unit]
Description=Acceptance stage of the booted test
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh /root/stage.sh
ExecStopPost=/usr/bin/systemctl poweroff --no-block
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
`;

/** A fresh copy of the tree at `dir`, with systemd-sysext.service and the stage unit enabled. */
export async function makeHost(dir: string): Promise<void> {
  const tree = await bootTree();
  await rm(dir, { recursive: true, force: true });
  await execa('cp', ['-a', '--reflink=auto', tree, dir]);
  const units = join(dir, 'etc/systemd/system');
  await mkdir(join(units, 'sysinit.target.wants'), { recursive: true });
  await mkdir(join(units, 'multi-user.target.wants'), { recursive: true });
  await symlink(
    '/usr/lib/systemd/system/systemd-sysext.service',
    join(units, 'sysinit.target.wants/systemd-sysext.service'),
  );
  await writeFile(join(units, 'acceptance.service'), ACCEPTANCE_UNIT);
  await symlink('../acceptance.service', join(units, 'multi-user.target.wants/acceptance.service'));
}

export interface Boot {
  exitCode: number;
  console: string;
  values: Record<string, string>;
}

async function loopDevices(): Promise<string[]> {
  const devices: string[] = [];
  for (let i = 0; i < LOOPS; i++) {
    const dev = `/dev/loop${i}`;
    if (!existsSync(dev)) await execa('mknod', [dev, 'b', '7', String(i)]);
    devices.push(dev);
  }
  return devices;
}

/** Boots `dir` once with `stage` as /root/stage.sh; returns what the stage reported. */
export async function boot(dir: string, stage: string, timeoutSec = 300): Promise<Boot> {
  await writeFile(join(dir, 'root/stage.sh'), `set -u\nexec >>/root/console.txt 2>&1\n${stage}\n`);
  await rm(join(dir, 'root/out.txt'), { force: true });
  await rm(join(dir, 'root/console.txt'), { force: true });
  const binds = ['/dev/loop-control', ...(await loopDevices())].map((d) => `--bind=${d}`);
  const r = await execa(
    'timeout',
    [
      String(timeoutSec),
      'systemd-nspawn',
      '-q',
      '-D',
      dir,
      '--boot',
      '--register=no',
      '--keep-unit',
      '--capability=all',
      ...binds,
      '-E',
      'SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1',
      'systemd.unified_cgroup_hierarchy=0',
      'SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1',
    ],
    { reject: false, stdin: 'ignore', all: true },
  );
  const text = await readFile(join(dir, 'root/out.txt'), 'utf8').catch(() => '');
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9.-]+)=(.*)$/.exec(line);
    if (m) values[m[1] as string] = m[2] as string;
  }
  const stageLog = await readFile(join(dir, 'root/console.txt'), 'utf8').catch(() => '');
  return {
    exitCode: r.exitCode ?? -1,
    console: `${r.all ?? ''}\n--- stage ---\n${stageLog}`,
    values,
  };
}

/**
 * Bootstrap as PRODUCT.md section 8 says: the agent's two images as plain files in
 * /var/lib/extensions, the publisher's key and a config (repository /srv/repo in the tree, the
 * agent's own extensions and hello) in /etc; nothing else on the host.
 */
export async function bootstrapAgent(
  dir: string,
  images: { agent: string; node: string },
  publicKey: string,
): Promise<void> {
  const ext = join(dir, 'var/lib/extensions');
  await mkdir(ext, { recursive: true });
  await copyFile(images.agent, join(ext, 'sysext-agent.raw'));
  await copyFile(images.node, join(ext, 'sysext-agent-node.raw'));
  await mkdir(join(dir, 'etc/sysext-agent/keys'), { recursive: true });
  await copyFile(publicKey, join(dir, 'etc/sysext-agent/keys/a.pub'));
  await writeFile(
    join(dir, 'etc/sysext-agent/config.json'),
    JSON.stringify({
      repositories: ['/srv/repo'],
      extensions: {
        'sysext-agent': { healthTimeoutSec: 120 },
        'sysext-agent-node': {},
        hello: { healthCheck: ['/usr/bin/hello', '--selftest'] },
      },
    }),
  );
}
