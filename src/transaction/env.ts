/** What a transaction needs: built from the configuration, or from a journal by `recover`. */
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import { CONFIG_DEFAULTS, type ExtensionConfig } from '../config/schema.ts';
import { healthCheckOf } from '../self/own.ts';
import type { HealthRunner } from '../health/runner.ts';
import type { SystemdPort } from '../systemd/port.ts';

export interface TxEnv {
  readonly paths: Readonly<HostPaths>;
  readonly log: Logger;
  readonly refresh: boolean;
  /** `--root` as given, passed on to systemd as `--root=`; undefined for the real host. */
  readonly rootOption: string | undefined;
  readonly sidecars: boolean;
  readonly now: () => Date;
  readonly systemd: SystemdPort;
  readonly health: HealthRunner;
  /** The configured health check of an extension (recovery has none: it runs no new checks). */
  readonly healthOf: (name: string) => ExtensionConfig | undefined;
  /**
   * Called right after each journal step is recorded, before it is done. Tests use it to
   * stop a run at any step (a promise that never settles is a crash) or to fail it there.
   */
  readonly onStep?: (step: string) => void | Promise<void>;
}

/** The edges a transaction talks to, passed in so that tests can drive every branch. */
export interface TxPorts {
  readonly systemd: SystemdPort;
  readonly health: HealthRunner;
  readonly onStep?: (step: string) => void | Promise<void>;
}

export function txEnvFromContext(ctx: {
  paths: Readonly<HostPaths>;
  log: Logger;
  refresh: boolean;
  rootOption: string | undefined;
  now: () => Date;
  ports: TxPorts;
  config: { veritySidecars: boolean; extensions: Readonly<Record<string, ExtensionConfig>> };
}): TxEnv {
  return {
    paths: ctx.paths,
    log: ctx.log,
    refresh: ctx.refresh,
    rootOption: ctx.rootOption,
    sidecars: ctx.config.veritySidecars,
    now: ctx.now,
    systemd: ctx.ports.systemd,
    health: ctx.ports.health,
    healthOf: (name) =>
      healthCheckOf(
        name,
        Object.hasOwn(ctx.config.extensions, name) ? ctx.config.extensions[name] : undefined,
        CONFIG_DEFAULTS.healthTimeoutSec,
      ),
    ...(ctx.ports.onStep ? { onStep: ctx.ports.onStep } : {}),
  };
}
