/**
 * Entry point: `sysext-agent [--root DIR] [--config FILE] [--json] [--log-level LEVEL] COMMAND`
 * (PRODUCT.md section 5). Maps every failure to the contract's exit codes in one place.
 */
import { Command, CommanderError } from 'commander';
import { AgentError, exitCodeFor } from '../errors.ts';
import { outcome } from './action.ts';
import { keygenCommand } from './commands/keygen.ts';
import {
  checkCommand,
  recoverCommand,
  removeCommand,
  rollbackCommand,
  selfTestCommand,
  statusCommand,
  updateCommand,
  vacuumCommand,
} from './commands/lifecycle.ts';
import { publishCommand } from './commands/publish.ts';
import { rescueCommand } from './commands/rescue.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { serveCommand } from './commands/serve.ts';
import { signCommand } from './commands/sign.ts';
import { verityCommand } from './commands/verity.ts';

export function buildProgram(version = 'unknown'): Command {
  const program = new Command('sysext-agent')
    .description('keeps systemd system and configuration extension images up to date, safely')
    .option('--root <dir>', 'operate on the tree at DIR (no refresh unless --refresh)')
    .option('--config <file>', 'configuration file (default: ROOT/etc/sysext-agent/config.json)')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .option('--refresh', 'with --root: also run systemd-sysext/confext refresh --root=DIR')
    .option('--wait', 'wait for another running instance instead of exiting 75')
    .version(`sysext-agent ${version}`, '--version', 'print "sysext-agent VERSION"')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
    });
  for (const cmd of [
    checkCommand(),
    updateCommand(),
    rollbackCommand(),
    statusCommand(),
    removeCommand(),
    vacuumCommand(),
    recoverCommand(),
    rescueCommand(),
    selfTestCommand(),
    keygenCommand(),
    signCommand(),
    publishCommand(),
    rolloutCommand(),
    verityCommand(),
    serveCommand(),
  ]) {
    program.addCommand(cmd.exitOverride().showHelpAfterError());
  }
  return program;
}

function reportError(err: AgentError, json: boolean): void {
  process.stderr.write(`sysext-agent: ${err.message}\n`);
  if (json)
    process.stdout.write(
      JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2) + '\n',
    );
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { agentVersion } = await import('./version.ts');
    await buildProgram(await agentVersion()).parseAsync(argv as string[], { from: 'user' });
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; everything else commander refuses is usage.
      return err.exitCode === 0 ? 0 : exitCodeFor('USAGE');
    }
    if (err instanceof AgentError) {
      reportError(err, json);
      return exitCodeFor(err.code);
    }
    const wrapped = new AgentError(
      'IO',
      `unexpected error: ${(err as Error)?.stack ?? String(err)}`,
      { cause: err },
    );
    reportError(wrapped, json);
    return exitCodeFor(wrapped.code);
  }
}

process.exitCode = await main(process.argv.slice(2));
