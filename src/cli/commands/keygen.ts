import { Command } from 'commander';
import { runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function keygenCommand(): Command {
  return new Command('keygen')
    .description(
      'write an ed25519 key pair: PREFIX.key (mode 0600) and PREFIX.pub; print the key id',
    )
    .requiredOption('--output <prefix>', 'path prefix of the two key files')
    .action(
      runner(async (opts) => {
        const { writeKeyPair } = await import('../../publish/keyfiles.ts');
        const result = await writeKeyPair(String(opts.output));
        emit(opts, result, () => result.keyid);
        return 0;
      }),
    );
}
