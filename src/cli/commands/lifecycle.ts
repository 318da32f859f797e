/**
 * The host-side commands: check, update, rollback, remove, vacuum, recover, status.
 * Implementations are imported when a command runs, so `--help` and light commands do not pay
 * for loading the HTTP and schema libraries.
 */
import { Command } from 'commander';
import type { ExtensionReport } from '../../commands/report.ts';
import { underLock, underLockFor } from '../host.ts';
import { invocation, runner } from '../action.ts';
import { metered } from '../../metrics/run.ts';
import { buildContext, emit, pathsFor, render } from '../runtime.ts';
import type { UpdateReport } from '../../commands/update.ts';

function describe(name: string, e: ExtensionReport): string {
  const change =
    e.result === 'up-to-date'
      ? e.from
        ? ` (${e.from})`
        : ''
      : e.from === null && e.to === null && e.result === 'skipped'
        ? ''
        : ` ${e.from ?? '(none)'} -> ${e.to ?? '(none)'}`;
  return `${name}: ${e.result}${change}${e.message ? `: ${e.message}` : ''}`;
}

function describeAll(extensions: Record<string, ExtensionReport>): string {
  return Object.entries(extensions)
    .map(([n, e]) => describe(n, e))
    .join('\n');
}

export function checkCommand(): Command {
  return new Command('check')
    .description(
      'fetch and verify the manifest; per extension: current, newest available for this host, action, and the versions held back with the reason (compatibility, rollout, quarantine, pin)',
    )
    .action(
      metered('check', async (opts, log) => {
        const { runCheck, formatCheck } = await import('../../commands/check.ts');
        const ctx = await buildContext(opts, log);
        const report = await underLockFor(ctx, opts, log, () => runCheck(ctx));
        emit(opts, report, () => formatCheck(report));
        return 0;
      }),
    );
}

export function updateCommand(): Command {
  return new Command('update')
    .description(
      'download, verify, stage, switch, refresh and health-check (all or the named extensions)',
    )
    .argument(
      '[names...]',
      'configured extensions to update (default: all); NAME@VERSION installs exactly that version (also a downgrade), regardless of rollout and quarantine, never of compatibility',
    )
    .option(
      '--allow-quarantined',
      'consider quarantined versions too (retry one on purpose)',
      false,
    )
    .action(
      metered('update', async (opts, log, args) => {
        const { runUpdate } = await import('../../commands/update.ts');
        // NAME and NAME@VERSION pass the rules before the lock or recovery (USAGE, exit 2).
        const { parseTarget } = await import('../../commands/selection.ts');
        for (const arg of args) parseTarget(arg);
        const { keepPollRecord } = await import('../../poll/keep.ts');
        const ctx = await buildContext(opts, log);
        const human = (r: UpdateReport) => (): string => describeAll(r.extensions);
        // A quiet `update` of everything leaves the record that may answer the next identical
        // poll (src/poll/), written before the lock is released.
        const polls = args.length === 0 && opts.allowQuarantined !== true;
        const report = await underLockFor(ctx, opts, log, () =>
          runUpdate(ctx, {
            names: args,
            allowQuarantined: opts.allowQuarantined === true,
            ...(polls && {
              afterQuiet: (manifest, r) =>
                keepPollRecord({
                  paths: ctx.paths,
                  config: ctx.config,
                  configFile: opts.config ?? ctx.paths.configFile,
                  argv: invocation.argv,
                  manifest,
                  stdout: render(opts, r, human(r)),
                  log,
                }),
            }),
          }),
        );
        emit(opts, report, human(report));
        return report.exitCode;
      }),
    );
}

export function rollbackCommand(): Command {
  return new Command('rollback')
    .description(
      'make the previous version current again (all or the named extensions); quarantine the one left',
    )
    .argument(
      '[names...]',
      'extensions to roll back (default: every one that has a previous version)',
    )
    .action(
      metered('rollback', async (opts, log, args) => {
        const { runRollback } = await import('../../commands/rollback.ts');
        const { checkNames } = await import('../../commands/selection.ts');
        checkNames(args);
        const ctx = await buildContext(opts, log);
        const report = await underLockFor(ctx, opts, log, () => runRollback(ctx, args));
        emit(opts, report, () => describeAll(report.extensions));
        return report.exitCode;
      }),
    );
}

export function removeCommand(): Command {
  return new Command('remove')
    .description(
      'deactivate, refresh, confirm it is gone from the merge, delete its stored versions and state',
    )
    .argument('<names...>', 'extensions to remove')
    .option('--force', "also the agent's own extensions (sysext-agent, sysext-agent-node)", false)
    .action(
      metered('remove', async (opts, log, args) => {
        const { runRemove } = await import('../../commands/remove.ts');
        const { checkNames } = await import('../../commands/selection.ts');
        checkNames(args);
        const ctx = await buildContext(opts, log);
        const report = await underLockFor(ctx, opts, log, () =>
          runRemove(ctx, args, opts.force === true),
        );
        for (const w of report.warnings) log.warn(w);
        emit(opts, report, () =>
          [describeAll(report.extensions), ...report.warnings.map((w) => `note: ${w}`)].join('\n'),
        );
        return report.exitCode;
      }),
    );
}

export function vacuumCommand(): Command {
  return new Command('vacuum')
    .description(
      'delete stored versions that are quarantined and were never current, those beyond keep (never current or previous), and stale partial downloads',
    )
    .action(
      metered('vacuum', async (opts, log) => {
        const { runVacuum, formatVacuum } = await import('../../commands/vacuum.ts');
        const ctx = await buildContext(opts, log);
        const report = await underLockFor(ctx, opts, log, () => runVacuum(ctx));
        emit(opts, report, () => formatVacuum(report));
        return 0;
      }),
    );
}

export function recoverCommand(): Command {
  return new Command('recover')
    .description(
      'finish or undo a transaction interrupted by a crash or power loss (no configuration needed)',
    )
    .action(
      runner(async (opts, log) => {
        const report = await underLock(pathsFor(opts), opts, log, async (r) => r);
        emit(opts, report, () =>
          report.recovered
            ? `recovered an interrupted ${report.command} (${report.phase} phase, at ${report.step}): ${report.outcome}`
            : 'nothing to recover',
        );
        return 0;
      }),
    );
}

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'current, previous, installed and quarantined versions; accepted manifest; no network',
    )
    .action(
      runner(async (opts, log) => {
        const { existsSync } = await import('node:fs');
        const { loadConfig } = await import('../../config/load.ts');
        const { collectStatus, formatStatus } = await import('../../commands/status.ts');
        const paths = pathsFor(opts);
        const configFile = typeof opts.config === 'string' ? opts.config : paths.configFile;
        // status works without a configuration (e.g. an image being inspected), but not with a bad one.
        const config =
          opts.config !== undefined || existsSync(configFile) ? await loadConfig(configFile) : null;
        // Recover first when the lock is free; a running instance (or a read-only tree) only
        // means status reports what is on disk now.
        await underLock(paths, { ...opts, wait: false }, log, async () => undefined).catch(
          (err: Error) => log.info({ reason: err.message }, 'status without recovery'),
        );
        const { systemdTools } = await import('../../systemd/tools.ts');
        const report = await collectStatus(paths, config, systemdTools());
        emit(opts, report, () => formatStatus(report));
        return 0;
      }),
    );
}

export function selfTestCommand(): Command {
  return new Command('self-test')
    .description(
      "load every module, sign and verify, build a verity tree: the health check of the agent's own extension",
    )
    .action(
      runner(async (opts) => {
        const [{ selfTest }, { agentVersion }] = await Promise.all([
          import('../../self/self-test.ts'),
          import('../version.ts'),
        ]);
        const report = await selfTest(await agentVersion());
        emit(
          opts,
          report,
          () =>
            `sysext-agent ${report.version}: self-test ok (${report.modules} modules, ${report.checks.join(', ')})`,
        );
        return 0;
      }),
    );
}
