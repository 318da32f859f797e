/**
 * `rescue`: take out of the agent's extension directories whatever keeps systemd from merging
 * (PRODUCT.md section 8; docs/rescue.md). Like `recover` it reads no configuration, so that it
 * can run at boot when the merge failed; it takes the lock and recovers first like every
 * command that changes the host.
 */
import { Command } from 'commander';
import { underLock } from '../host.ts';
import { metered } from '../../metrics/run.ts';
import { emit, pathsFor } from '../runtime.ts';

export function rescueCommand(): Command {
  return new Command('rescue')
    .description(
      "take out what keeps systemd-sysext/confext from merging, found by trial merges in private namespaces: the agent's own versions are quarantined (the previous one switched in), other entries moved to var/lib/sysext-agent/rescued/; needs no configuration",
    )
    .action(
      metered('rescue', async (opts, log) => {
        const [{ runRescue }, { describeRescued }, { defaultPorts }] = await Promise.all([
          import('../../commands/rescue.ts'),
          import('../../rescue/describe.ts'),
          import('../../commands/ports.ts'),
        ]);
        const paths = pathsFor(opts);
        const ports = defaultPorts();
        const report = await underLock(
          paths,
          opts,
          log,
          () =>
            runRescue({
              paths,
              log,
              rootOption: opts.root === undefined ? undefined : paths.root,
              now: () => new Date(),
              systemd: ports.systemd,
            }),
          ports,
        );
        if (report.error) process.stderr.write(`sysext-agent: ${report.error.message}\n`);
        emit(opts, report, () =>
          [
            ...report.rescued.map(describeRescued),
            report.rescued.length === 0 && report.mergeOk
              ? 'nothing to rescue: every extension merges'
              : report.mergeOk
                ? 'the merge works again'
                : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        return report.exitCode;
      }),
    );
}
