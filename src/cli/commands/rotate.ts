import { Command } from 'commander';
import { AgentError } from '../../errors.ts';
import { parseDuration } from '../../util/duration.ts';
import { collect, runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function rotateCommand(): Command {
  return new Command('rotate')
    .description(
      'write the next keys/N.json (signed by the old and the new keys) and re-sign the manifest with the new keys',
    )
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key <file>', 'private key trusted now (repeat up to the threshold)', collect, [])
    .option('--new-key <file>', 'private key of the new set (repeat for several)', collect, [])
    .option(
      '--threshold <n>',
      'signatures the new set requires (default: the previous threshold, 1 for the first rotation)',
    )
    .option('--expires <duration>', 'validity of the re-signed manifest', '30d')
    .addHelpText(
      'after',
      `
Hosts fetch keys/N.json before the manifest and accept it only when it is signed by the
threshold of the keys they trust now AND by its own threshold; a key left out of the new set
is revoked. Every new key signs the document, so all of them are needed once. Copy keys/ to
mirrors before manifest.json. Exit 1 (THRESHOLD) when --key does not reach the threshold of
the newest keys/N.json. See docs/rotation.md.

Example:
  sysext-agent keygen --output release-2026
  sysext-agent rotate --repo ./repo --key release.key --new-key release-2026.key`,
    )
    .action(
      runner(async (opts) => {
        const { parseThreshold, rotateKeys } = await import('../../publish/rotate.ts');
        const { readSigningKeys } = await import('../../publish/keyfiles.ts');
        const newFiles = opts.newKey as string[];
        if (newFiles.length === 0)
          throw new AgentError('USAGE', 'at least one --new-key is required');
        const oldKeys = await readSigningKeys(opts.key as string[]);
        const newKeys = await readSigningKeys(newFiles);
        const threshold =
          opts.threshold === undefined
            ? undefined
            : parseThreshold(String(opts.threshold), newKeys.length);
        const result = await rotateKeys({
          repo: String(opts.repo),
          oldKeys,
          newKeys,
          ...(threshold === undefined ? {} : { threshold }),
          expiresInMs: parseDuration(String(opts.expires)),
          now: new Date(),
        });
        const { serial, expires } = result.payload;
        emit(
          opts,
          {
            version: result.version,
            file: result.file,
            keys: result.keyIds,
            threshold: result.threshold,
            serial,
            expires,
          },
          () =>
            `${result.file}: key set version ${result.version}, threshold ${result.threshold} of ${result.keyIds.join(', ')}\n` +
            `manifest serial ${serial}, expires ${expires}, signed by the new keys`,
        );
        return 0;
      }),
    );
}
