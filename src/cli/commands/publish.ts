import { Command } from 'commander';
import { AgentError } from '../../errors.ts';
import { parseDuration } from '../../util/duration.ts';
import { collect, runner } from '../action.ts';
import { emit } from '../runtime.ts';

function releaseText(release: Record<string, string> | undefined): string {
  const text = Object.entries(release ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return text === '' ? '' : ` for ${text}`;
}

export function publishCommand(): Command {
  return new Command('publish')
    .description(
      'add NAME_VERSION.raw images to a repository and sign the next manifest; with no image, re-sign',
    )
    .argument('[images...]', 'squashfs or erofs images named NAME_VERSION.raw')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key <file>', 'private key (repeat for several signatures)', collect, [])
    .option('--expires <duration>', 'validity of the new manifest', '30d')
    .option('--kind <kind>', 'sysext or confext: what every image given must be', 'sysext')
    .option(
      '--rollout <percent>',
      'rollout percent (0-100) of the versions the images are added to',
    )
    .addHelpText(
      'after',
      `
Each image's extension-release file is read from the image (no root, no mount: unsquashfs
or fsck.erofs) at the place systemd reads it for the kind, and its checked fields (ID,
VERSION_ID, SYSEXT_LEVEL/CONFEXT_LEVEL, ARCHITECTURE, scope) are recorded in the manifest.
Refused with exit 1, nothing written: a file that is neither squashfs nor erofs, an image
without extension-release.NAME for its kind, an image of the other kind.

Images of one version built for different architectures or OS releases are stored side by
side: REPO/NAME/VARIANT/NAME_VERSION.raw (VARIANT e.g. x86-64, arm64, x86-64_fedora_40);
an image for every host (ID=_any, no ARCHITECTURE) at REPO/NAME/NAME_VERSION.raw.

Examples:
  sysext-agent publish --repo ./repo --key release.key x86-64/hello_2.1.raw arm64/hello_2.1.raw
  sysext-agent publish --repo ./repo --key release.key --rollout 10 hello_2.2.raw
  sysext-agent publish --repo ./repo --key release.key --expires 7d     # re-sign only`,
    )
    .action(
      runner(async (opts, _log, args) => {
        if (opts.kind !== 'sysext' && opts.kind !== 'confext') {
          throw new AgentError(
            'USAGE',
            `--kind must be sysext or confext, not ${String(opts.kind)}`,
          );
        }
        const { publish } = await import('../../publish/publish.ts');
        const { readSigningKeys } = await import('../../publish/keyfiles.ts');
        const { parsePercent } = await import('../../publish/rollout.ts');
        const result = await publish({
          repo: String(opts.repo),
          keys: await readSigningKeys(opts.key as string[]),
          expiresInMs: parseDuration(String(opts.expires)),
          kind: opts.kind,
          images: args,
          now: new Date(),
          ...(opts.rollout === undefined
            ? {}
            : { rolloutPercent: parsePercent(String(opts.rollout), '--rollout') }),
        });
        const { serial, expires } = result.payload;
        emit(opts, { serial, expires, images: result.images }, () =>
          [
            ...result.images.map(
              (i) =>
                `${i.unchanged ? 'unchanged' : 'added'} ${i.name} ${i.version}${releaseText(i.entry.release)} ` +
                `(${i.entry.path}, ${i.filesystem}, ${i.entry.size} bytes, root hash ${i.entry.verity.rootHash})`,
            ),
            `manifest serial ${serial}, expires ${expires}`,
          ].join('\n'),
        );
        return 0;
      }),
    );
}
