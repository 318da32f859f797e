#!/bin/sh
# /var/lib/sysext-agent/boot/run-stored.sh: runs sysext-agent from its stored extension images,
# without the merge (PRODUCT.md section 8). The agent writes this file, with its boot-time units
# in /etc/systemd/system, while its own extensions are configured (src/self/boot-hooks.ts).
#
# Before systemd-sysext.service has merged, or after the merge failed, the agent is not on /usr.
# This script mounts the images of `sysext-agent-node` (the runtime) and `sysext-agent` (the
# bundle) read-only in a private mount namespace under /run, and runs the agent from there:
#
#   run-stored.sh [GLOBAL OPTIONS] COMMAND [ARGS]      e.g. `--log-level warn recover`, `rescue`
#
# Candidates, in order: the image the activation entry in /var/lib/extensions points at (or
# holds), then every stored version, newest first. A runtime must run `node -e 0`; an agent must
# pass its own self-test with that runtime; the first that does is used, so a broken image (the
# reason for the rescue, or an update cut off half-way) never stops the boot-time agent. Without
# any stored image it falls back to /usr/bin/sysext-agent (an agent installed on /usr).
#
# After a successful `rescue` the extensions are merged again in the host's namespace (the
# namespace of this script is private, a merge there would be seen by nobody).
set -u
state=/var/lib/sysext-agent
active=/var/lib/extensions
mnt=/run/sysext-agent/stored
say() { echo "sysext-agent boot: $*" >&2; }

# The command: the first argument that is neither an option nor an option's value.
command=
skip=
for arg in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$arg" in
    --root | --config | --log-level | --log-format) skip=yes ;;
    -*) ;;
    *) command=$arg; break ;;
  esac
done

if [ "${SYSEXT_AGENT_STORED_NS:-}" != 1 ]; then
  SYSEXT_AGENT_STORED_NS=1 unshare --mount --propagation private /bin/sh "$0" "$@"
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$command" = rescue ]; then
    say "merging the extensions again after the rescue"
    systemd-sysext refresh || rc=$?
    if command -v systemd-confext >/dev/null 2>&1; then systemd-confext refresh || rc=$?; fi
  fi
  exit "$rc"
fi

# Inside the private namespace: the mounts below vanish with this process. systemd-sysext
# merges from a child mount namespace and relies on propagation back to its caller's (without
# it, `recover` would not see the merge it asked for), so this namespace's mounts are shared
# among themselves again; none of them is a peer of the host's. 252 also needs /run to be a
# mount point (it remounts it MS_SLAVE); a booted host's is one already.
mount --make-rshared / || exit 1
mkdir -p "$mnt" && mount -t tmpfs -o mode=0700,size=1m tmpfs "$mnt" || exit 1

# The candidates for extension $1, one path per line.
candidates() {
  if [ -e "$active/$1.raw" ]; then readlink -f "$active/$1.raw"; fi
  ls -1 "$state/images/$1/" 2>/dev/null | grep -E "^$1_[^/]*\.raw\$" | sort -r -V |
    sed "s|^|$state/images/$1/|"
}

# Mounts image $1 read-only at $2 (util-linux sets up the loop device); says why it cannot.
mounted() {
  mkdir -p "$2" || return 1
  why=$(mount -o ro,nodev,nosuid "$1" "$2" 2>&1) && return 0
  say "cannot mount $1 ($why), trying the next"
  return 1
}

newline='
'
IFS=$newline
node=
for image in $(candidates sysext-agent-node); do
  mounted "$image" "$mnt/node" || continue
  if "$mnt/node/usr/lib/sysext-agent-node/bin/node" -e 0 2>/dev/null; then
    node=$mnt/node/usr/lib/sysext-agent-node/bin/node
    break
  fi
  say "no working runtime in $image, trying the next"
  umount "$mnt/node"
done
if [ -z "$node" ]; then node=$(command -v node 2>/dev/null) || node=; fi

agent=
if [ -n "$node" ]; then
  for image in $(candidates sysext-agent); do
    mounted "$image" "$mnt/agent" || continue
    if "$node" "$mnt/agent/usr/lib/sysext-agent/sysext-agent.mjs" self-test >/dev/null 2>&1; then
      agent=$mnt/agent/usr/lib/sysext-agent/sysext-agent.mjs
      say "running ${command:-the agent} with $image"
      break
    fi
    say "the agent in $image fails its self-test, trying the next"
    umount "$mnt/agent"
  done
fi
unset IFS

if [ -n "$agent" ]; then exec "$node" "$agent" "$@"; fi
if [ -x /usr/bin/sysext-agent ]; then exec /usr/bin/sysext-agent "$@"; fi
say "cannot run ${command:-the agent}: no stored sysext-agent and sysext-agent-node image works" \
  "(see /var/lib/sysext-agent/images/) and /usr/bin/sysext-agent is missing; place working" \
  "images in /var/lib/extensions (docs/bootstrap.md)"
exit 127
