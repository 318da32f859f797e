/**
 * The host-side commands: check, update, status. Implementations are imported when a command
 * runs, so `--help` and light commands do not pay for loading the HTTP and schema libraries.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { runner } from '../action.ts';
import { buildContext, emit, pathsFor } from '../runtime.ts';

export function checkCommand(): Command {
  return new Command('check')
    .description(
      'fetch and verify the manifest; report current, newest available and action per extension',
    )
    .action(
      runner(async (opts, log) => {
        const { runCheck } = await import('../../lifecycle/check.ts');
        const report = await runCheck(await buildContext(opts, log));
        emit(opts, report, () =>
          [
            `manifest serial ${report.manifest.serial} from ${report.manifest.url}, expires ${report.manifest.expires}`,
            ...Object.entries(report.extensions).map(
              ([n, e]) =>
                `${n}: current ${e.current ?? '-'}, available ${e.available ?? '-'}, action ${e.action}`,
            ),
          ].join('\n'),
        );
        return 0;
      }),
    );
}

export function updateCommand(): Command {
  return new Command('update')
    .description(
      'download, verify, stage, switch, refresh and health-check (all or the named extensions)',
    )
    .argument('[names...]', 'configured extensions to update (default: all)')
    .option(
      '--allow-quarantined',
      'consider quarantined versions too (retry one on purpose)',
      false,
    )
    .action(
      runner(async (opts, log, args) => {
        const { runUpdate } = await import('../../lifecycle/update.ts');
        const ctx = await buildContext(opts, log);
        const report = await runUpdate(ctx, {
          names: args,
          allowQuarantined: opts.allowQuarantined === true,
        });
        emit(opts, report, () =>
          Object.entries(report.extensions)
            .map(
              ([n, e]) =>
                `${n}: ${e.result}${e.to && e.result !== 'up-to-date' ? ` ${e.from ?? '(none)'} -> ${e.to}` : e.from ? ` (${e.from})` : ''}${e.message ? `: ${e.message}` : ''}`,
            )
            .join('\n'),
        );
        return report.exitCode;
      }),
    );
}

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'current, previous, installed and quarantined versions; accepted manifest; no network',
    )
    .action(
      runner(async (opts) => {
        const { loadConfig } = await import('../../config/load.ts');
        const { collectStatus, formatStatus } = await import('../../lifecycle/status.ts');
        const paths = pathsFor(opts);
        const configFile = typeof opts.config === 'string' ? opts.config : paths.configFile;
        // status works without a configuration (e.g. an image being inspected), but not with a bad one.
        const config =
          opts.config !== undefined || existsSync(configFile) ? await loadConfig(configFile) : null;
        const report = await collectStatus(paths, config);
        emit(opts, report, () => formatStatus(report));
        return 0;
      }),
    );
}
