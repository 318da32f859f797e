/** Everything a command needs, built once from the global options and the configuration. */
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { OpenSource } from '../net/source.ts';
import type { TxPorts } from '../transaction/env.ts';

/** The edges a command talks to: systemd, health checks, the repository. */
export interface Ports extends TxPorts {
  readonly openSource: OpenSource;
}

export interface AgentContext {
  readonly paths: Readonly<HostPaths>;
  readonly config: Readonly<Config>;
  readonly log: Logger;
  /** True when merges should be refreshed: config.refresh, and `--refresh` when `--root` is given. */
  readonly refresh: boolean;
  /** `--root` as given, passed on to systemd-sysext as `--root=`; undefined for the real host. */
  readonly rootOption: string | undefined;
  readonly now: () => Date;
  readonly ports: Ports;
  /** A progress display for one download (a bar on a terminal), when wanted. */
  readonly progress?: (label: string, total: number) => ProgressDisplay;
}

export interface ProgressDisplay {
  update: (done: number, total: number) => void;
  stop: () => void;
}
