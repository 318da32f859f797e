/**
 * `npm run build:sysext` (PRODUCT.md section 8) against the real systemd-sysext 252: the build
 * runs once (the node packages come from the npm registry the first time, then from
 * build/cache/), its images stay within their limits, and a host that has only the two x86-64
 * images of its architecture (x86-64 here) as plain files in /var/lib/extensions runs the merged agent on the bundled runtime,
 * with the units and the timer's wants link in the merged /usr. Merges happen in a private
 * mount namespace with a temp /var/lib (PRODUCT.md section 7).
 */
import { execa } from 'execa';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing, missingFor } from '../helpers/requirements.ts';
import { inNamespace, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip = missingFor('merge') ?? missing('mksquashfs', 'unsquashfs');
/** The images a host like this one merges (systemd's architecture names). */
const HOST = ({ x64: 'x86-64', arm64: 'arm64' } as Record<string, string>)[arch()];
const MiB = 1024 * 1024;
/** A refresh that prints nothing unless it fails. */
const REFRESH = 'out=$(systemd-sysext refresh 2>&1) || { echo "$out" >&2; exit 98; }';
const UNITS = [
  'sysext-agent-recover.service',
  'sysext-agent-update.service',
  'sysext-agent-update.timer',
];

describe.skipIf(skip || HOST === undefined)('the agent as an extension of itself', () => {
  let sb: Sandbox;
  let out = '';
  let build = { stdout: '', stderr: '', exitCode: -1 };
  let version = '';
  let nodeVersion = '';
  /** The agent's image carries the agent's version; the runtime's, Node's. */
  const versionOf = (name: string): string =>
    name === 'sysext-agent-node' ? nodeVersion : version;
  const image = (dir: string, name: string): string =>
    join(out, dir, `${name}_${versionOf(name)}.raw`);

  beforeAll(async () => {
    sb = await makeSandbox();
    out = join(sb.dir, 'out');
    version = (
      JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as { version: string }
    ).version;
    nodeVersion = (
      JSON.parse(await readFile(join(PROJECT, 'node_modules/node/package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    // The project's build, into the sandbox, with the project's cache (build/cache/).
    const r = await execa(
      process.execPath,
      [join(PROJECT, 'scripts/build-sysext.ts'), '--out', out],
      {
        cwd: PROJECT,
        reject: false,
        stdin: 'ignore',
      },
    );
    build = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }, 900_000);
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('builds both images for each architecture within the limits and prints sizes and time', async () => {
    expect(build.stderr).not.toMatch(/build-sysext:/);
    expect(build.exitCode).toBe(0);
    for (const [dir, name, limit] of [
      ['x86-64', 'sysext-agent', 2 * MiB],
      ['arm64', 'sysext-agent', 2 * MiB],
      ['x86-64', 'sysext-agent-node', 40 * MiB],
      ['arm64', 'sysext-agent-node', 40 * MiB],
    ] as const) {
      const { size } = await stat(image(dir, name));
      expect(size, `${dir}/${name}`).toBeLessThanOrEqual(limit);
      expect(size % 4096, `${dir}/${name}`).toBe(0);
      expect(build.stdout).toContain(`${dir}/${name}_${versionOf(name)}.raw  ${size} bytes`);
    }
    expect(build.stdout).toMatch(/^built in \d+(\.\d)? s$/m);
    // The architecture-independent image is the same file in every architecture's directory.
    const [a, b] = await Promise.all(
      ['x86-64', 'arm64'].map((d) => readFile(image(d, 'sysext-agent'))),
    );
    expect(a?.equals(b as Buffer)).toBe(true);
  });

  /** Places the given images as plain NAME.raw files in the sandbox's /var/lib/extensions. */
  async function place(names: readonly string[]): Promise<void> {
    const ext = join(sb.varLib, 'extensions');
    await execa('rm', ['-rf', ext]);
    await mkdir(ext, { recursive: true });
    for (const name of names) await copyFile(image(HOST as string, name), join(ext, `${name}.raw`));
  }

  /** A `node` that is not Node: prints VERSION for `-p ...`, else says that it ran. */
  async function fakeNode(dir: string, nodeVersion: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'node');
    await writeFile(
      file,
      `#!/bin/sh\nif [ "$1" = -p ]; then echo ${nodeVersion}; exit 0; fi\necho "fake node ran $*"\n`,
    );
    await chmod(file, 0o755);
    return dir;
  }

  it('runs the merged agent on the bundled runtime, with its units and the timer enabled', async () => {
    await place(['sysext-agent', 'sysext-agent-node']);
    const data = join(sb.dir, 'data.img');
    await writeFile(data, Buffer.alloc(8 * 4096, 7));
    const fake = await fakeNode(join(sb.dir, 'fake-bin'), '24.99.0');
    const salt = 'ab'.repeat(32);
    const uuid = '12345678-1234-1234-1234-123456789abc';
    const usr = '/usr/lib/systemd/system';
    const r = await inNamespace(
      sb,
      `${REFRESH}
       echo "== version"; env -i PATH=/usr/bin:/bin /usr/bin/sysext-agent --version
       echo "== fake first"; env -i PATH='${fake}':/usr/bin:/bin /usr/bin/sysext-agent --version
       echo "== verity"; env -i PATH=/usr/bin:/bin /usr/bin/sysext-agent --log-level warn verity \
         '${data}' --salt ${salt} --uuid ${uuid}; echo "exit=$?"
       echo "== units"; for u in ${UNITS.join(' ')}; do [ -f ${usr}/$u ] && echo "$u"; done
       echo "== wants"; readlink ${usr}/timers.target.wants/sysext-agent-update.timer
       echo "== upholds"; cat ${usr}/timers.target.d/sysext-agent.conf | grep '^Upholds='
       echo "== exec"; grep -h '^ExecStart=' ${usr}/sysext-agent-*.service
       echo "== maps"; env -i /usr/lib/sysext-agent-node/bin/node -e \
         "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))" |
         awk '$6 ~ /\\.so/ { print $6 }' | sort -u
       echo "== release"; cat /usr/lib/extension-release.d/extension-release.sysext-agent \
         /usr/lib/extension-release.d/extension-release.sysext-agent-node | grep -v '^#'
       echo "== end"
       systemd-sysext unmerge >/dev/null 2>&1; true`,
    );
    expect(r.stderr).toBe('');
    const section = (name: string): string[] =>
      r.stdout
        .split(/^== /m)
        .find((s) => s.startsWith(`${name}\n`))
        ?.split('\n')
        .slice(1)
        .filter((l) => l !== '') ?? [];
    expect(r.exitCode).toBe(0);
    // The private runtime, not the host's node (v20 here) nor a node earlier on PATH.
    expect(section('version')).toEqual([`sysext-agent ${version}`]);
    expect(section('fake first')).toEqual([`sysext-agent ${version}`]);
    // The bundle computes what the agent from the sources computes (every module it loads).
    const fromSources = await runCli([
      '--log-level',
      'warn',
      'verity',
      data,
      '--salt',
      salt,
      '--uuid',
      uuid,
    ]);
    expect(fromSources.exitCode).toBe(0);
    expect(section('verity')).toEqual([...fromSources.stdout.split('\n'), 'exit=0']);
    expect(section('units')).toEqual(UNITS);
    expect(section('wants')).toEqual(['../sysext-agent-update.timer']);
    expect(section('upholds')).toEqual(['Upholds=sysext-agent-update.timer']);
    expect(section('exec')).toEqual([
      'ExecStart=/usr/bin/sysext-agent --log-level warn recover',
      'ExecStart=/usr/bin/sysext-agent update',
    ]);
    // The runtime loads glibc and the GCC runtime from the host and nothing of its own.
    const libs = section('maps');
    expect(libs.length).toBeGreaterThan(0);
    for (const lib of libs) {
      expect(lib).not.toMatch(/^\/usr\/lib\/sysext-agent/);
      expect(lib.split('/').pop()).toMatch(
        /^(libc|libm|libdl|libpthread|libstdc\+\+|libgcc_s|ld-linux-(x86-64|aarch64))\.so/,
      );
    }
    expect(section('release')).toEqual([
      'ID=_any',
      'SYSEXT_ID=sysext-agent',
      `SYSEXT_VERSION_ID=${version}`,
      'EXTENSION_RELOAD_MANAGER=1',
      'ID=_any',
      'SYSEXT_ID=sysext-agent-node',
      `SYSEXT_VERSION_ID=${nodeVersion}`,
      `ARCHITECTURE=${HOST}`,
      expect.stringMatching(/^SYSEXT_AGENT_NODE_VERSION=\d+\.\d+\.\d+$/),
    ]);
  });

  it('without the runtime image the wrapper takes a node >= 22.19 from PATH, else says why (127)', async () => {
    await place(['sysext-agent']);
    const recent = await fakeNode(join(sb.dir, 'recent'), '22.19.0');
    const old = await fakeNode(join(sb.dir, 'old'), '22.18.3');
    const none = join(sb.dir, 'empty');
    await mkdir(none, { recursive: true });
    const r = await inNamespace(
      sb,
      `${REFRESH}
       env -i PATH='${recent}' /usr/bin/sysext-agent --version; echo "recent=$?"
       env -i PATH='${old}' /usr/bin/sysext-agent --version; echo "old=$?"
       env -i PATH='${none}' /usr/bin/sysext-agent --version; echo "none=$?"
       systemd-sysext unmerge >/dev/null 2>&1; true`,
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'fake node ran /usr/lib/sysext-agent/sysext-agent.mjs --version',
      'recent=0',
      'old=127',
      'none=127',
    ]);
    const lines = r.stderr.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/\/usr\/lib\/sysext-agent-node\/bin\/node is missing/);
    expect(lines[0]).toContain(`${old}/node is version 22.18.3, older than 22.19`);
    expect(lines[1]).toMatch(/no node on PATH/);
  });

  it('publish accepts the images, reading their extension-release', async () => {
    const repo = join(sb.dir, 'agent-repo');
    const r = await runCli([
      '--json',
      'publish',
      '--repo',
      repo,
      '--key',
      sb.key,
      image('x86-64', 'sysext-agent'),
      image('x86-64', 'sysext-agent-node'),
      image('arm64', 'sysext-agent'),
      image('arm64', 'sysext-agent-node'),
    ]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      images: { name: string; version: string; unchanged: boolean; entry: { release?: unknown } }[];
    };
    expect(doc.images.map((i) => [i.name, i.version, i.unchanged, i.entry.release])).toEqual([
      ['sysext-agent', version, false, { ID: '_any' }],
      ['sysext-agent-node', nodeVersion, false, { ID: '_any', ARCHITECTURE: 'x86-64' }],
      // The same agent image again: nothing new.
      ['sysext-agent', version, true, { ID: '_any' }],
      ['sysext-agent-node', nodeVersion, false, { ID: '_any', ARCHITECTURE: 'arm64' }],
    ]);
  });
});
