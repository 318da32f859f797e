/** Runs the real CLI as a user would: a separate Node 24 process on the TypeScript sources. */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

export const PROJECT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const result = await execa(process.execPath, [CLI, ...args], {
    reject: false,
    env,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The shell command line for the CLI, for scripts run inside a mount namespace. */
export function cliCommand(): string {
  return `'${process.execPath}' '${CLI}'`;
}
