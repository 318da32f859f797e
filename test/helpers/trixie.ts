/**
 * A Debian trixie tree (systemd 257, with systemd-confext) for running the agent against the
 * real configuration-extension tooling (PRODUCT.md section 7). Built once per machine with
 * `debootstrap --variant=minbase --include=systemd trixie DIR MIRROR`, the mirror read from
 * this machine's apt sources, and kept for later runs.
 *
 * Runs happen in a private mount namespace: the tree is bind-mounted on itself and made
 * rshared (systemd-confext 257 merges from a child mount namespace and relies on propagation
 * back), /proc, /sys, /dev and a fresh /run are mounted, and the given host paths are bound at
 * the same paths inside; then `chroot`. The host's /etc is never touched.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const TRIXIE_DIR = process.env.SYSEXT_AGENT_TRIXIE_DIR ?? '/var/tmp/sysext-agent-trixie';
const MARKER = '.sysext-agent-complete';

/** The first plain Debian archive in the apt sources (deb822 or one-line format). */
export async function debianMirror(): Promise<string> {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) files.push(...(await readdir(dir)).map((f) => join(dir, f)));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const urls = [...text.matchAll(/(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)].map(
      (m) => m[1] as string,
    );
    const plain = urls.find((u) => /\/debian\/?$/.test(u));
    if (plain) return plain;
  }
  return 'http://deb.debian.org/debian';
}

/** The tree, debootstrapped on first use (about a minute) and reused afterwards. */
export async function trixieTree(): Promise<string> {
  if (existsSync(join(TRIXIE_DIR, MARKER))) return TRIXIE_DIR;
  await rm(TRIXIE_DIR, { recursive: true, force: true });
  await mkdir(dirname(TRIXIE_DIR), { recursive: true });
  const mirror = await debianMirror();
  await execa(
    'debootstrap',
    ['--variant=minbase', '--include=systemd', 'trixie', TRIXIE_DIR, mirror],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await writeFile(join(TRIXIE_DIR, MARKER), `${mirror}\n`);
  return TRIXIE_DIR;
}

export interface TrixieRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` with /bin/sh inside the tree. `binds` are host directories bound at the same
 * path inside; `varLib` maps directories under the tree's /var/lib to host directories.
 */
export async function inTrixie(
  tree: string,
  binds: readonly string[],
  varLib: Readonly<Record<string, string>>,
  script: string,
): Promise<TrixieRun> {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const setup = [
    `mount --bind ${q(tree)} ${q(tree)}`,
    `mount -t proc proc ${q(`${tree}/proc`)}`,
    `mount --rbind /sys ${q(`${tree}/sys`)}`,
    `mount --rbind /dev ${q(`${tree}/dev`)}`,
    `mount -t tmpfs tmpfs ${q(`${tree}/run`)}`,
    ...binds.flatMap((b) => [`mkdir -p ${q(tree + b)}`, `mount --bind ${q(b)} ${q(tree + b)}`]),
    ...Object.entries(varLib).flatMap(([sub, host]) => [
      `mkdir -p ${q(`${tree}/var/lib/${sub}`)}`,
      `mount --bind ${q(host)} ${q(`${tree}/var/lib/${sub}`)}`,
    ]),
    `mount --make-rshared ${q(tree)}`,
  ].join(' && ');
  const inner = `env -u NODE_EXTRA_CA_CERTS /bin/sh -c ${q(script)}`;
  const result = await execa(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `${setup} || exit 99\nexec chroot ${q(tree)} ${inner}`,
    ],
    { reject: false, stdin: 'ignore' },
  );
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}
