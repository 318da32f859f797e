import { Command } from 'commander';
import { runner } from '../action.ts';
import { emit } from '../runtime.ts';

export function verityCommand(): Command {
  return new Command('verity')
    .description('print the dm-verity root hash of an image, as `veritysetup format` computes it')
    .argument('<image>', 'image file (size a multiple of 4096)')
    .option('--salt <hex>', 'salt as hex ("" or "-" for none; default: random, like veritysetup)')
    .option('--uuid <uuid>', 'superblock uuid (default: random)')
    .option('--hash-file <file>', 'also write the hash file, byte-identical to veritysetup format')
    .action(
      runner(async (opts, log, args) => {
        // Loaded when the command runs: other commands, a poll above all, do not pay for them.
        const { randomVerityParams, verityOfFile } = await import('../../verity/file.ts');
        const { parseSaltHex, parseUuid } = await import('../../verity/tree.ts');
        const { writeFileAtomic } = await import('../../store/atomic.ts');
        const random = randomVerityParams();
        const salt = typeof opts.salt === 'string' ? parseSaltHex(opts.salt) : random.salt;
        const uuid = typeof opts.uuid === 'string' ? parseUuid(opts.uuid) : random.uuid;
        const result = await verityOfFile(args[0] as string, { salt, uuid });
        if (typeof opts.hashFile === 'string')
          await writeFileAtomic(opts.hashFile, result.hashFile);
        if (opts.salt === undefined || opts.uuid === undefined) {
          log.info({ salt: salt.toString('hex'), uuid }, 'random verity parameters chosen');
          if (!opts.json) process.stderr.write(`salt: ${salt.toString('hex')}\nuuid: ${uuid}\n`);
        }
        emit(
          opts,
          {
            rootHash: result.rootHash,
            salt: salt.toString('hex'),
            uuid,
            dataBlocks: result.dataBlocks,
            hashFile: opts.hashFile ?? null,
          },
          () => result.rootHash,
        );
        return 0;
      }),
    );
}
