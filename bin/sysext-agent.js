#!/usr/bin/env node
// Runs the agent: the single-file bundle `npm run build` (and npm's `prepare`) writes to
// dist/sysext-agent.mjs, the same file the agent's own extension image ships (scripts/bundle.ts);
// without it the compiled modules of dist/cli/; from a checkout without a build, the TypeScript
// sources (Node >= 22.18 strips the types).
//
// Node's compile cache keeps V8's code for the agent between runs (docs/performance.md): in
// $NODE_COMPILE_CACHE when set (NODE_DISABLE_COMPILE_CACHE=1 turns it off), else in
// $CACHE_DIRECTORY/compile-cache (systemd sets it for a unit with CacheDirectory=), else in
// ${XDG_CACHE_HOME:-$HOME/.cache}/sysext-agent/compile-cache. Never in a shared directory such
// as /tmp (Node's own default): code read from a cache another user can write would run as root.
//
// Builtins come from process.getBuiltinModule(), not `import`: an ES import of a builtin makes
// Node build its ES facade, which reads (and so loads) every lazy export.
const { existsSync } = process.getBuiltinModule('node:fs');
const { enableCompileCache } = process.getBuiltinModule('node:module');
const { join } = process.getBuiltinModule('node:path');

function compileCacheDir() {
  const env = process.env;
  if (env.NODE_COMPILE_CACHE) return env.NODE_COMPILE_CACHE;
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  if (systemd) return join(systemd, 'compile-cache');
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base ? join(base, 'sysext-agent', 'compile-cache') : undefined;
}

const cacheDir = compileCacheDir();
// A cache that cannot be made (read-only home, no permission) only costs the speed-up:
// enableCompileCache returns that as its status and the agent runs as it would without.
if (cacheDir && !process.env.NODE_DISABLE_COMPILE_CACHE) enableCompileCache?.(cacheDir);

const candidates = ['../dist/sysext-agent.mjs', '../dist/cli/main.js', '../src/cli/main.ts'].map(
  (p) => new URL(p, import.meta.url),
);
await import((candidates.find((u) => existsSync(u)) ?? candidates[2]).href);
