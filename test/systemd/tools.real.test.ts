/**
 * A kind this host cannot merge (systemd-confext needs systemd >= 254; this machine has 252)
 * fails before anything is downloaded or switched: exit 1, code UNSUPPORTED, host unchanged.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../src/systemd/proof.ts';
import { systemdTools } from '../../src/systemd/tools.ts';
import { startServer } from '../../src/serve/server.ts';
import { cliCommand, runCli } from '../helpers/cli.ts';
import { missing, which } from '../helpers/requirements.ts';
import { resignManifest } from '../helpers/repo-manifest.ts';
import {
  buildImages,
  inNamespace,
  makeSandbox,
  snapshot,
  type Sandbox,
} from '../helpers/sandbox.ts';

describe('requireTools', () => {
  let dir = '';
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-tools-'));
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await rm(dir, { recursive: true, force: true });
  });

  it('finds an executable on PATH and refuses a missing one with UNSUPPORTED', async () => {
    const fake = join(dir, 'systemd-confext');
    await writeFile(fake, '#!/bin/sh\nexit 0\n');
    await chmod(fake, 0o755);
    process.env.PATH = dir;
    await expect(requireTools(systemdTools(), ['confext'])).resolves.toBeUndefined();
    await expect(requireTools(systemdTools(), ['sysext'])).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    await chmod(fake, 0o644);
    await expect(requireTools(systemdTools(), ['confext'])).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
  });
});

// The agent runs in a private mount namespace (root, unshare) on real squashfs images; it
// refuses before anything is downloaded, so nothing is merged. A host that has systemd-confext
// (systemd >= 254) has nothing to refuse: a property of the host, not a missing tool, so the
// test says why and skips, in CI too. The Debian 12 CI host (systemd 252) has none: it runs.
function confextSkip(): string | null {
  const why = missing('root', 'unshare', 'mksquashfs');
  if (why) return why;
  const confext = which('systemd-confext');
  if (confext === undefined) return null;
  console.warn(`skipping the missing-confext test: this host has ${confext}`);
  return `this host has ${confext}`;
}
const skipConfext = confextSkip();

describe.skipIf(skipConfext)('a confext on a host without systemd-confext', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await sb.writeConfig({ repositories: [server.url], extensions: { hello: {} } });
    // A real configuration extension: publish reads its release from etc/extension-release.d.
    const [image] = await buildImages(sb.images, ['1.0'], { confext: true });
    const pub = await runCli([
      'publish',
      '--repo',
      sb.repo,
      '--key',
      sb.key,
      '--kind',
      'confext',
      image as string,
    ]);
    expect(pub.exitCode, pub.stderr).toBe(0);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('holds it back (systemd < 254), exit 0, nothing downloaded or switched', async () => {
    // The image's release says confext: the compatibility rules refuse it on systemd 252 as
    // systemd would, before anything is downloaded (a manifest of a mixed fleet is no error).
    const before = await snapshot(sb.varLib);
    const r = await inNamespace(
      sb,
      `${cliCommand()} --config '${sb.configFile}' --json --log-level warn update`,
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const hello = JSON.parse(r.stdout).extensions.hello;
    expect(hello).toMatchObject({ result: 'up-to-date', to: null });
    expect(hello.heldBack[0].reason).toContain('254');
    // Only the accepted manifest is recorded (state.json, the manifest cache), and the record
    // of this quiet run for the next poll (src/poll/): no image, no link.
    const after = Object.keys(await snapshot(sb.varLib)).filter((k) => !(k in before));
    expect(after.sort()).toEqual([
      './sysext-agent',
      './sysext-agent/manifest-cache.json',
      './sysext-agent/poll.json',
      './sysext-agent/state.json',
    ]);
  });

  it('a schema 1 manifest (no release fields): UNSUPPORTED, exit 1, before downloading', async () => {
    // Without release fields nothing can be judged in advance; the missing tool still is.
    const manifest = join(sb.repo, 'manifest.json');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- reshaped to schema 1 on purpose
    await resignManifest<any>(sb, await readFile(manifest, 'utf8'), manifest, (payload) => {
      const v1 = payload.extensions.hello.versions['1.0'].images[0];
      delete v1.release;
      payload.schema = 1;
      payload.extensions.hello.versions['1.0'] = v1;
    });
    const before = await snapshot(sb.varLib);
    const r = await inNamespace(
      sb,
      `${cliCommand()} --config '${sb.configFile}' --json --log-level warn update`,
    );
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('UNSUPPORTED');
    expect(await snapshot(sb.varLib)).toEqual(before);
  });
});
