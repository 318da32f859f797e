/**
 * The command line: `sysext-agent [--root DIR] [--config FILE] [--json] [--log-level LEVEL]
 * COMMAND` (PRODUCT.md section 5). Maps every failure to the contract's exit codes in one place.
 */
import { Command, CommanderError } from 'commander';
import { AgentError, exitCodeFor } from '../errors.ts';
import { invocation, outcome } from './action.ts';
import { DEFAULT_WAIT, parseWaitOption, waitArgs } from './host.ts';
import { systemError } from './system-error.ts';
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
import { unquarantineCommand } from './commands/quarantine.ts';
import { rescueCommand } from './commands/rescue.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { rotateCommand } from './commands/rotate.ts';
import { serveCommand } from './commands/serve.ts';
import { signCommand } from './commands/sign.ts';
import { verityCommand } from './commands/verity.ts';

/** A usage error is one line and a hint (PRODUCT.md section 5), not the whole help. */
function usageLine(message: string, write: (s: string) => void): void {
  write(`sysext-agent: ${message}`);
}

export function buildProgram(version = 'unknown'): Command {
  const program = new Command('sysext-agent')
    .description('keeps systemd system and configuration extension images up to date, safely')
    .option('--root <dir>', 'operate on the tree at DIR (no refresh unless --refresh)')
    .option('--config <file>', 'configuration file (default: ROOT/etc/sysext-agent/config.json)')
    .option('--json', 'print exactly one JSON document on stdout')
    .option(
      '--log-level <level>',
      'fatal, error, warn, info, debug, trace or silent (default: info in the journal and with --log-format json, else warn)',
    )
    .option(
      '--log-format <format>',
      'auto (journal priorities when stderr is the journal, else human lines), human, journal or json',
      'auto',
    )
    .option('--refresh', 'with --root: also run systemd-sysext/confext refresh --root=DIR')
    .option(
      '--wait [duration]',
      `wait for another running instance (at most DURATION, default ${DEFAULT_WAIT}) instead of exiting 75`,
      parseWaitOption,
    )
    .version(`sysext-agent ${version}`, '--version', 'print "sysext-agent VERSION"')
    .exitOverride()
    .showHelpAfterError(`Try 'sysext-agent --help'`)
    .configureOutput({
      outputError: usageLine,
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
    unquarantineCommand(),
    recoverCommand(),
    rescueCommand(),
    selfTestCommand(),
    keygenCommand(),
    signCommand(),
    publishCommand(),
    rolloutCommand(),
    rotateCommand(),
    verityCommand(),
    serveCommand(),
  ]) {
    program.addCommand(
      cmd
        .exitOverride()
        .showHelpAfterError(`Try 'sysext-agent ${cmd.name()} --help'`)
        .configureOutput({ outputError: usageLine }),
    );
  }
  return program;
}

/** One line on stderr in the run's log style (`<3>` in the journal); the JSON document with --json. */
async function reportError(err: AgentError, json: boolean, bug?: unknown): Promise<void> {
  const { reportFailure } = await import('./log/create.ts');
  await reportFailure(err, bug);
  if (json)
    process.stdout.write(
      JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2) + '\n',
    );
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  invocation.argv = argv;
  try {
    const { agentVersion } = await import('./version.ts');
    await buildProgram(await agentVersion()).parseAsync(waitArgs(argv), { from: 'user' });
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; everything else commander refuses is usage.
      if (err.exitCode === 0) return 0;
      const message = err.message.replace(/^error: /, '');
      if (json) process.stdout.write(JSON.stringify({ error: { code: 'USAGE', message } }) + '\n');
      return exitCodeFor('USAGE');
    }
    // A foreseeable system error (EACCES, EROFS, ENOSPC, EISDIR, ...) is coded and names the
    // path and the fix; only the unforeseen get a stack trace, for a bug report.
    const coded = systemError(err) ?? (err instanceof AgentError ? err : null);
    if (coded) {
      await reportError(coded, json);
      return exitCodeFor(coded.code);
    }
    // A bug: the report carries its stack, folded onto the one line.
    const wrapped = new AgentError(
      'IO',
      `unexpected error: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
    await reportError(wrapped, json, err);
    return exitCodeFor(wrapped.code);
  }
}
