import { Command } from 'commander';
import { AgentError } from '../../errors.ts';
import { readSigningKeys } from '../../publish/keyfiles.ts';
import { parseDuration } from '../../util/duration.ts';
import { collect, runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function publishCommand(): Command {
  return new Command('publish')
    .description(
      'add NAME_VERSION.raw images to a repository and sign the next manifest; with no image, re-sign',
    )
    .argument('[images...]', 'images named NAME_VERSION.raw')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key <file>', 'private key (repeat for several signatures)', collect, [])
    .option('--expires <duration>', 'validity of the new manifest', '30d')
    .option('--kind <kind>', 'sysext or confext, for new extensions', 'sysext')
    .action(
      runner(async (opts, _log, args) => {
        if (opts.kind !== 'sysext' && opts.kind !== 'confext') {
          throw new AgentError(
            'USAGE',
            `--kind must be sysext or confext, not ${String(opts.kind)}`,
          );
        }
        const { publish } = await import('../../publish/publish.ts');
        const result = await publish({
          repo: String(opts.repo),
          keys: await readSigningKeys(opts.key as string[]),
          expiresInMs: parseDuration(String(opts.expires)),
          kind: opts.kind,
          images: args,
          now: new Date(),
        });
        const { serial, expires } = result.payload;
        emit(opts, { serial, expires, images: result.images }, () =>
          [
            ...result.images.map(
              (i) =>
                `${i.unchanged ? 'unchanged' : 'added'} ${i.name} ${i.version} (${i.entry.size} bytes, root hash ${i.entry.verity.rootHash})`,
            ),
            `manifest serial ${serial}, expires ${expires}`,
          ].join('\n'),
        );
        return 0;
      }),
    );
}
