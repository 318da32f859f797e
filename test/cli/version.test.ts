/** `sysext-agent --version` prints `sysext-agent VERSION` (PRODUCT.md section 5), from package.json. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT, runCli } from '../helpers/cli.ts';

describe('--version', () => {
  it('prints "sysext-agent VERSION" and exits 0', async () => {
    const pkg = JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = await runCli(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`sysext-agent ${pkg.version}`);
  });
});
