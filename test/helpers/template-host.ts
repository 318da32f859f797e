/**
 * A prepared host to copy for each test: the sandbox's publisher key in the trust store and
 * `installed` (e.g. `small`) updated from `repository`, so the store and state exist.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli } from './cli.ts';
import type { Sandbox } from './sandbox.ts';

export async function templateHost(
  sb: Sandbox,
  repository: string,
  installed: string,
): Promise<string> {
  const template = join(sb.dir, 'template');
  await mkdir(join(template, 'etc/sysext-agent/keys'), { recursive: true });
  await copyFile(
    join(sb.keysDir, 'publisher.pub'),
    join(template, 'etc/sysext-agent/keys/publisher.pub'),
  );
  const config = join(sb.dir, 'config-template.json');
  await writeFile(
    config,
    JSON.stringify({ repositories: [repository], extensions: { [installed]: {} } }),
  );
  const run = await runCli(['--root', template, '--config', config, '--json', 'update']);
  expect(run.exitCode, run.stderr).toBe(0);
  return template;
}
