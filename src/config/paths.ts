/**
 * Every path the agent touches, derived from one root (PRODUCT.md section 2). With `--root DIR`
 * everything is prefixed by DIR; without it the root is "/".
 */
import { join, resolve } from 'node:path';

export interface HostPaths {
  root: string;
  configFile: string;
  keysDir: string;
  stateDir: string;
  stateFile: string;
  /** The key set accepted through rotation (PRODUCT.md section 3.2). */
  trustFile: string;
  imagesDir: string;
  partialDir: string;
  lockFile: string;
  sysextDir: string;
  confextDir: string;
  /**
   * The inputs and answer of the last quiet poll (src/poll/), for the next poll to compare: a
   * cache, kept next to the state it describes (a test's or an image's tree holds both).
   */
  pollRecordFile: string;
}

export function hostPaths(root = '/'): Readonly<HostPaths> {
  const r = resolve(root);
  const stateDir = join(r, 'var/lib/sysext-agent');
  return Object.freeze({
    root: r,
    configFile: join(r, 'etc/sysext-agent/config.json'),
    keysDir: join(r, 'etc/sysext-agent/keys'),
    stateDir,
    stateFile: join(stateDir, 'state.json'),
    trustFile: join(stateDir, 'trust.json'),
    imagesDir: join(stateDir, 'images'),
    partialDir: join(stateDir, 'partial'),
    lockFile: join(stateDir, 'lock'),
    sysextDir: join(r, 'var/lib/extensions'),
    confextDir: join(r, 'var/lib/confexts'),
    pollRecordFile: join(stateDir, 'poll.json'),
  });
}

/** A path from the configuration file, read inside the root (as every host path is). */
export function underRoot(paths: HostPaths, path: string): string {
  return join(paths.root, resolve('/', path));
}

export function extensionDir(paths: HostPaths, kind: 'sysext' | 'confext'): string {
  return kind === 'sysext' ? paths.sysextDir : paths.confextDir;
}
