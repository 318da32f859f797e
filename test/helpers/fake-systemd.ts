/**
 * Fake `systemd-sysext` and `losetup` for CLI tests that need no root: put first on PATH with
 * `--root T --refresh`. The fake "merges" whatever the activation links point at; flag files in
 * $FAKE_DIR make `status` fail (status-fail-once, status-fail-always); $FAKE_ROOT is the root
 * whose hello link backs the one fake loop device.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const FAKE_SYSEXT = `#!/bin/sh
# A systemd-sysext that "merges" whatever the activation links point at. Faults by flag files.
root=/
for a in "$@"; do case "$a" in --root=*) root="\${a#--root=}";; esac; done
case "$1" in
  refresh) exit 0 ;;
  status)
    if [ -e "$FAKE_DIR/status-fail-always" ]; then echo "status: Connection refused" >&2; exit 1; fi
    if [ -e "$FAKE_DIR/status-fail-once" ]; then
      rm -f "$FAKE_DIR/status-fail-once"; echo "status: Connection refused" >&2; exit 1
    fi
    names=""
    for l in "$root"/var/lib/extensions/*.raw; do
      [ -L "$l" ] || continue
      n=$(basename "$l" .raw); names="\${names:+$names,}\\"$n\\""
    done
    echo "[{\\"hierarchy\\":\\"/usr\\",\\"extensions\\":[$names]}]" ;;
  *) echo "fake systemd-sysext: unsupported $1" >&2; exit 1 ;;
esac
`;

export const FAKE_LOSETUP = `#!/bin/sh
# One loop device, backed by the image the hello link points at.
f=$(readlink -f "$FAKE_ROOT/var/lib/extensions/hello.raw") || exit 0
[ -e "$f" ] || exit 0
ino=$(stat -L -c %i "$f"); dev=$(stat -L -c %d "$f")
maj=$(( (dev >> 8) & 0xfff )); min=$(( (dev & 0xff) | ((dev >> 12) & 0xfff00) ))
printf '{"loopdevices":[{"name":"/dev/loop9","back-ino":%s,"back-maj:min":"%s:%s"}]}\\n' "$ino" "$maj" "$min"
`;

/** Writes the fake `systemd-sysext` and `losetup` into `dir` (made here), executable. */
export async function installFakes(dir: string): Promise<void> {
  await mkdir(dir);
  for (const [name, text] of [
    ['systemd-sysext', FAKE_SYSEXT],
    ['losetup', FAKE_LOSETUP],
  ] as const) {
    await writeFile(join(dir, name), text);
    await chmod(join(dir, name), 0o755);
  }
}

/**
 * A root for the fakes: ROOT/etc/sysext-agent/config.json updating hello from `repository`
 * with the keys in `keysDir`, and the extension-release file the fake merge shows for hello.
 */
export async function fakeHelloRoot(
  root: string,
  repository: string,
  keysDir: string,
): Promise<void> {
  const etc = join(root, 'etc/sysext-agent');
  await mkdir(etc, { recursive: true });
  await writeFile(
    join(etc, 'config.json'),
    JSON.stringify({ repositories: [repository], trustedKeys: keysDir, extensions: { hello: {} } }),
  );
  await mkdir(join(root, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(join(root, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=_any\n');
}
