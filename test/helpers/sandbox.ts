/**
 * A throwaway host for one test: its own /var/lib (store, state, extension dirs), trust store,
 * signing key and repository directory, all under one temp root. Merges happen only inside a
 * private mount namespace where that /var/lib is bound over the real one (PRODUCT.md section 7).
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import {
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPublicKey, formatSecretKey, generateKeyPair } from '../../src/manifest/keys.ts';
import { expect } from 'vitest';
import { PROJECT, runCli } from './cli.ts';

export interface Sandbox {
  dir: string;
  varLib: string;
  keysDir: string;
  repo: string;
  images: string;
  /** Private key that signs the repository (its public key is trusted). */
  key: string;
  configFile: string;
  writeConfig(config: Record<string, unknown>): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'sysext-agent-test-'));
  const sb = {
    dir,
    varLib: join(dir, 'var-lib'),
    keysDir: join(dir, 'keys'),
    repo: join(dir, 'repo'),
    images: join(dir, 'images'),
    key: join(dir, 'publisher.key'),
    configFile: join(dir, 'config.json'),
  };
  for (const d of [sb.varLib, sb.keysDir, sb.repo, sb.images]) await mkdir(d, { recursive: true });
  const pair = generateKeyPair();
  await writeFile(sb.key, formatSecretKey(pair), { mode: 0o600 });
  await writeFile(join(sb.keysDir, 'publisher.pub'), formatPublicKey(pair));
  return {
    ...sb,
    writeConfig: (config) =>
      writeFile(sb.configFile, JSON.stringify({ trustedKeys: sb.keysDir, ...config }, null, 2)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Builds real squashfs images with the committed fixture script. */
export async function buildImages(
  outDir: string,
  versions: readonly string[],
  opts: { name?: string; healthFail?: boolean; confext?: boolean; release?: string[] } = {},
): Promise<string[]> {
  const args = [
    '--out',
    outDir,
    ...(opts.name ? ['--name', opts.name] : []),
    ...(opts.release ?? []).flatMap((r) => ['--release', r]),
    ...(opts.healthFail ? ['--health-fail'] : []),
    ...(opts.confext ? ['--confext'] : []),
  ];
  await execa('bash', [join(PROJECT, 'fixtures/make-images.sh'), ...args, ...versions]);
  return versions.map((v) => join(outDir, `${opts.name ?? 'hello'}_${v}.raw`));
}

export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` in a private mount namespace with the sandbox's var-lib bound over /var/lib. */
export async function inNamespace(sb: Sandbox, script: string): Promise<ShellResult> {
  // The host's /etc/systemd/system is never written: the agent places its boot-time hooks there
  // when its own extensions are configured (src/self/boot-hooks.ts).
  const units = `${sb.dir}/etc-systemd-system`;
  const setup = `mount --make-rshared / && mount --bind /run /run && mount --bind '${sb.varLib}' /var/lib && mkdir -p '${units}' && mount --bind '${units}' /etc/systemd/system || exit 99`;
  const result = await execa(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', `${setup}\n${script}`],
    {
      reject: false,
      stdin: 'ignore',
    },
  );
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Every entry below `dir`: type, mode, content hash or link target. Equal snapshots = untouched. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(path: string, rel: string): Promise<void> {
    const info = await lstat(path);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) out[rel] = `link ${await readlink(path)}`;
    else if (info.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const e of (await readdir(path)).sort()) await walk(join(path, e), `${rel}/${e}`);
    } else
      out[rel] = `file ${mode} ${createHash('sha256')
        .update(await readFile(path))
        .digest('hex')}`;
  }
  await walk(dir, '.');
  return out;
}

/**
 * Publishes the prebuilt fixture image hello_VERSION.raw (fixtures/images) with the sandbox's
 * key, into `repo` (default: the sandbox's repository); `extra` goes before the image.
 */
export async function publishFixture(
  sb: Sandbox,
  version: string,
  opts: { repo?: string; extra?: readonly string[] } = {},
): Promise<void> {
  const image = join(sb.images, `hello_${version}.raw`);
  await copyFile(join(PROJECT, `fixtures/images/hello_${version}.raw`), image);
  const r = await runCli([
    'publish',
    '--repo',
    opts.repo ?? sb.repo,
    '--key',
    sb.key,
    ...(opts.extra ?? []),
    image,
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
}
