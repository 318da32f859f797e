import { Command } from 'commander';
import { collect, runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function signCommand(): Command {
  return new Command('sign')
    .description('wrap a manifest payload in a signed DSSE envelope')
    .argument('<payload>', 'payload JSON file (signed byte for byte)')
    .option('--key <file>', 'private key (repeat for several signatures)', collect, [])
    .option('--output <file>', 'write the envelope here instead of stdout')
    .action(
      runner(async (opts, log, args) => {
        const { signPayloadFile } = await import('../../publish/sign.ts');
        const { readSigningKeys } = await import('../../publish/keyfiles.ts');
        const { writeFileAtomic } = await import('../../store/atomic.ts');
        const keys = await readSigningKeys(opts.key as string[]);
        const { envelope, warning } = await signPayloadFile(args[0] as string, keys);
        if (warning) log.warn(warning);
        const text = JSON.stringify(envelope, null, 2) + '\n';
        if (typeof opts.output === 'string') {
          await writeFileAtomic(opts.output, text);
          emit(opts, { output: opts.output, signatures: envelope.signatures.length }, () => '');
        } else {
          process.stdout.write(text);
        }
        return 0;
      }),
    );
}
