/**
 * The systemd edge as an interface: everything the transaction asks of systemd-sysext /
 * systemd-confext and the kernel's loop devices. The default (`./tools.ts`) runs the real tools
 * through execa; tests pass fakes that refuse, lie or fail at any step.
 */
import type { ExtensionKind } from '../manifest/schema.ts';

export interface MergeTarget {
  kind: ExtensionKind;
  /** `--root` given to the agent, if any (passed on as `--root=`). */
  root: string | undefined;
}

/**
 * One file shown in a trial's directory: a symlink with this text, or a bind mount of the file
 * or directory at `source` (a path on the host as it is before the trial hides anything).
 */
export type TrialFile =
  { name: string; link: string } | { name: string; source: string; directory: boolean };

/**
 * A merge tried in a throw-away private mount namespace. Without `only`, every search directory
 * as it is (does the merge work?); with `only`, each search directory of the kind is hidden by an
 * empty tmpfs and `only.dir` shows exactly `only.files` (does this one entry merge alone?).
 */
export interface TrialMerge extends MergeTarget {
  only?: { dir: string; files: readonly TrialFile[] };
}

export interface TrialResult {
  /** The tool exited 0: what makes systemd-sysext.service succeed. */
  ok: boolean;
  /** The tool's last line on stderr (its reason), or how it ended. */
  detail: string;
}

export interface SystemdPort {
  /** Whether the tool that merges `kind` is installed (systemd-confext needs systemd >= 254). */
  hasTool(kind: ExtensionKind): Promise<boolean>;
  /** `systemd-sysext refresh` / `systemd-confext refresh`; throws MERGE_FAILED when it fails. */
  refresh(target: MergeTarget): Promise<void>;
  /** Extension names merged per hierarchy (`status --json=short`); throws MERGE_FAILED. */
  merged(target: MergeTarget): Promise<Map<string, string[]>>;
  /** Whether `extension-release.NAME` is visible in the merged tree. */
  releaseVisible(target: MergeTarget, name: string): Promise<boolean>;
  /** Whether a loop device is backed by the very inode of `image`. */
  loopBackedBy(image: string): Promise<boolean>;
  /** systemd's version as `systemd-sysext --version` reports it ("252.39-1~deb12u2"); null when
   * the tool does not answer. The merge rules differ between releases (src/compat). */
  version(): Promise<string | null>;
  /** `refresh` in a throw-away namespace (see TrialMerge): nothing it does is seen outside.
   * Throws UNSUPPORTED when the namespace cannot be set up (that says nothing about the entry). */
  trialMerge(trial: TrialMerge): Promise<TrialResult>;
}

export function toolFor(kind: ExtensionKind): string {
  return kind === 'sysext' ? 'systemd-sysext' : 'systemd-confext';
}
