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
