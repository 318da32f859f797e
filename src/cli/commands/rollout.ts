import { Command } from 'commander';
import { parseDuration } from '../../util/duration.ts';
import { collect, runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function rolloutCommand(): Command {
  return new Command('rollout')
    .description(
      "set a published version's rollout percent: next serial, re-signed (hosts take the version when their bucket is below it)",
    )
    .argument('<name>', 'extension name')
    .argument('<version>', 'published version')
    .argument('<percent>', 'integer from 0 (no host) to 100 (every host)')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key <file>', 'private key (repeat for several signatures)', collect, [])
    .option('--expires <duration>', 'validity of the new manifest', '30d')
    .addHelpText(
      'after',
      `
A host on the version keeps it when the percent is lowered. Exit 1 (NOT_IN_MANIFEST) when the
repository has no such NAME or VERSION, 2 for a percent outside 0-100.

Example:
  sysext-agent rollout --repo ./repo --key release.key hello 2.1 25`,
    )
    .action(
      runner(async (opts, _log, args) => {
        const { parsePercent, setRollout } = await import('../../publish/rollout.ts');
        const { readSigningKeys } = await import('../../publish/keyfiles.ts');
        const [name, version, percentText] = args as [string, string, string];
        const percent = parsePercent(percentText, 'PERCENT');
        const result = await setRollout({
          repo: String(opts.repo),
          keys: await readSigningKeys(opts.key as string[]),
          expiresInMs: parseDuration(String(opts.expires)),
          now: new Date(),
          name,
          version,
          percent,
        });
        const { serial, expires } = result.payload;
        emit(
          opts,
          { name, version, percent, previousPercent: result.previousPercent, serial, expires },
          () =>
            `${name} ${version}: rollout ${percent}% (was ${result.previousPercent}%)\n` +
            `manifest serial ${serial}, expires ${expires}`,
        );
        return 0;
      }),
    );
}
