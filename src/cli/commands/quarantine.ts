/**
 * `unquarantine NAME [VERSION...]`: the CLI wiring. It changes state.json, so it runs under the
 * lock after `recover`, like every other command that changes the host.
 */
import { Command } from 'commander';
import { underLockFor } from '../host.ts';
import { runner } from '../action.ts';
import { buildContext, emit } from '../runtime.ts';

export function unquarantineCommand(): Command {
  return new Command('unquarantine')
    .description(
      "forget quarantine entries (all of NAME's, or the versions named): the next update may take them again",
    )
    .argument('<name>', 'extension (configured, or known to the state)')
    .argument('[versions...]', 'quarantined versions to forget (default: all of NAME)')
    .addHelpText(
      'after',
      `
A version that is not quarantined is reported as such (exit 0); an unknown NAME is a usage
error (exit 2). To retry a quarantined version once without forgetting it: update NAME@VERSION.

Example:
  sysext-agent unquarantine hello 2.1`,
    )
    .action(
      runner(async (opts, log, args) => {
        const { runUnquarantine, formatUnquarantine, checkUnquarantineArgs } =
          await import('../../commands/unquarantine.ts');
        const [name, ...versions] = args as [string, ...string[]];
        // Names and versions from the command line pass the rules before the lock or recovery.
        checkUnquarantineArgs(name, versions);
        const ctx = await buildContext(opts, log);
        const report = await underLockFor(ctx, opts, log, () =>
          runUnquarantine(ctx, name, versions),
        );
        emit(opts, report, () => formatUnquarantine(report));
        return 0;
      }),
    );
}
