/**
 * A kind this host cannot merge (systemd-confext needs systemd >= 254; this machine has 252)
 * fails before anything is downloaded or switched: exit 1, code UNSUPPORTED, host unchanged.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../src/systemd/proof.ts';
import { systemdTools } from '../../src/systemd/tools.ts';
import { startServer } from '../../src/serve/server.ts';
import { cliCommand, runCli } from '../helpers/cli.ts';
import { missingFor } from '../helpers/requirements.ts';
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

const canMerge = process.getuid?.() === 0 && !missingFor('merge');
const hostHasConfext = (process.env.PATH ?? '')
  .split(':')
  .some((d) => d !== '' && existsSync(join(d, 'systemd-confext')));
if (hostHasConfext)
  console.warn('skipping the missing-confext test: this host has systemd-confext');

describe.skipIf(!canMerge || hostHasConfext)('a confext on a host without systemd-confext', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await sb.writeConfig({ repositories: [server.url], extensions: { hello: {} } });
    const [image] = await buildImages(sb.images, ['1.0']);
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
    expect(pub.exitCode).toBe(0);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('exits 1 with UNSUPPORTED before downloading or switching anything', async () => {
    const before = await snapshot(sb.varLib);
    const r = await inNamespace(
      sb,
      `${cliCommand()} --config '${sb.configFile}' --json --log-level warn update`,
    );
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('UNSUPPORTED');
    expect(await snapshot(sb.varLib)).toEqual(before);
  });
});
