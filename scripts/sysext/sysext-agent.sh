#!/bin/sh
# /usr/bin/sysext-agent of the sysext-agent extension image (scripts/build-sysext.ts).
#
# Runs the agent, one bundled JavaScript file, with the Node.js runtime of the sysext-agent-node
# extension image at its private path (never on PATH, never shadowing the host's libraries).
# Without that image it takes a `node` on PATH of at least 22.19 (the agent's `engines`), and
# says on stderr why it cannot run (exit 127, as a shell does for a missing command) when
# neither is there.
agent=/usr/lib/sysext-agent/sysext-agent.mjs
runtime=/usr/lib/sysext-agent-node/bin/node

# Node's compile cache (V8's code for the agent, kept between runs; docs/performance.md), as
# bin/sysext-agent.js of a checkout picks it: $NODE_COMPILE_CACHE when set, else below systemd's
# CacheDirectory= of the unit ($CACHE_DIRECTORY, /var/cache/sysext-agent), else below the user's
# cache directory. Never a directory other users can write (such as /tmp): code read from it runs
# as root. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
if [ -z "${NODE_COMPILE_CACHE:-}" ]; then
  if [ -n "${CACHE_DIRECTORY:-}" ]; then
    NODE_COMPILE_CACHE=${CACHE_DIRECTORY%%:*}/compile-cache
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then
    NODE_COMPILE_CACHE=$XDG_CACHE_HOME/sysext-agent/compile-cache
  elif [ -n "${HOME:-}" ]; then
    NODE_COMPILE_CACHE=$HOME/.cache/sysext-agent/compile-cache
  fi
  [ -n "${NODE_COMPILE_CACHE:-}" ] && export NODE_COMPILE_CACHE
fi

if [ -x "$runtime" ]; then
  exec "$runtime" "$agent" "$@"
fi

node=$(command -v node 2>/dev/null) || node=
if [ -z "$node" ]; then
  echo "sysext-agent: no Node.js runtime: $runtime is missing (merge the sysext-agent-node" \
    "extension image) and there is no node on PATH" >&2
  exit 127
fi

version=$("$node" -p process.versions.node 2>/dev/null) || version=
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
case "$major:$minor" in
  *[!0-9:]* | :* | *:) ok=no ;;
  *) if [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 19 ]; }; then
       ok=yes
     else
       ok=no
     fi ;;
esac
if [ "$ok" = yes ]; then
  exec "$node" "$agent" "$@"
fi
echo "sysext-agent: no usable Node.js runtime: $runtime is missing (merge the sysext-agent-node" \
  "extension image) and $node is version ${version:-unknown}, older than 22.19" >&2
exit 127
