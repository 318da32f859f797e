/**
 * The agent as one bundled ES module: the file the agent's own extension image ships
 * (scripts/build-sysext.ts) and `dist/sysext-agent.mjs`, which bin/sysext-agent.js runs
 * (`npm run build` and `prepare` write it). One function makes both, so what is measured and
 * tested from a checkout is what hosts run.
 *
 *   node scripts/bundle.ts [OUTFILE]      (default dist/sysext-agent.mjs)
 *
 * Start-up (PRODUCT.md section 9, docs/performance.md "Start-up"): a poll runs only a small
 * part of the agent, so the bundle is shaped for loading fast:
 *
 * - Node builtins come from `process.getBuiltinModule()`, never from an `import` statement. An
 *   ES import of a builtin makes Node build its ES module facade, which reads every export:
 *   the facade of node:http alone loads Node's internal undici through its lazy getters (about
 *   40 ms), node:fs's loads the streams, node:util's the worker_threads. The bundle is left with
 *   no static import at all (test/build/bundle.test.ts checks it).
 * - zod's error messages in 40 languages are left out (the agent uses its English default,
 *   zod/v4/classic sets it); they took a third of zod's initialisation.
 * - Whitespace and syntax are minified, names are not: stack traces from the field keep the
 *   function names, and the source is a third smaller to read and parse.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { bootFileTexts } from '../src/self/boot-hooks.ts';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));

/** Where `npm run build` writes the bundle; bin/sysext-agent.js runs it when it is there. */
export const DIST_BUNDLE = join(PROJECT, 'dist/sysext-agent.mjs');

/**
 * Modules a dependency looks for with `require()` inside try/catch and does without: debug (a
 * dependency of send) tries supports-color. It is not installed, so the bundle gets an empty
 * module: the agent never resolves anything outside its one file (a host's global node_modules
 * must not change how it behaves).
 */
const ABSENT_OPTIONAL = ['supports-color'];

const absentOptional: Plugin = {
  name: 'absent-optional',
  setup(build) {
    const filter = new RegExp(`^(${ABSENT_OPTIONAL.join('|')})$`);
    build.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'absent-optional' }));
    build.onLoad({ filter: /.*/, namespace: 'absent-optional' }, () => ({
      contents: 'module.exports = {};',
      loader: 'js',
    }));
  },
};

/**
 * Every builtin, imported or required, as a CommonJS module read through
 * `process.getBuiltinModule()`: esbuild's interop then reads a named export when it is used, and
 * Node builds no ES facade. A builtin whose exports are an object is loaded when one of its
 * exports is first read, not when the importing module starts: a poll never loads
 * node:child_process, node:http2 or node:zlib, which the modules it imports name at their top.
 * The export names are the ones of the Node that bundles (a name a host's older Node lacks reads
 * as undefined, as it would unbundled). A builtin that is a function (events, stream, assert) is
 * returned as it is, loaded at once: code extends and calls it.
 */
function builtinShim(id: string): string {
  const real: unknown = process.getBuiltinModule(id);
  const load = `process.getBuiltinModule(${JSON.stringify(id)})`;
  if (typeof real !== 'object' || real === null) return `module.exports = ${load};`;
  return [
    'let loaded;',
    `const real = () => (loaded ??= ${load});`,
    `for (const name of ${JSON.stringify(Object.getOwnPropertyNames(real))}) {`,
    '  Object.defineProperty(exports, name, {',
    '    get: () => real()[name],',
    '    set: (value) => { real()[name] = value; },',
    '    enumerable: true,',
    '  });',
    '}',
  ].join('\n');
}

const builtinsWithoutFacade: Plugin = {
  name: 'builtins-without-facade',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (a) =>
      isBuiltin(a.path)
        ? { path: a.path.startsWith('node:') ? a.path : `node:${a.path}`, namespace: 'builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => ({
      contents: builtinShim(a.path),
      loader: 'js',
    }));
  },
};

/** zod/v4/classic's `export * as locales`: English only (the default it configures). */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) =>
      /[/\\]node_modules[/\\]zod[/\\]/.test(a.importer)
        ? { path: join(a.resolveDir, '../locales/en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (a) => ({
      contents: `export { default as en } from ${JSON.stringify(a.path)};`,
      loader: 'js',
      resolveDir: dirname(a.path),
    }));
  },
};

/** The agent's `import ... from 'undici'`: the part it uses (scripts/undici-lean.mjs). */
const undiciLean: Plugin = {
  name: 'undici-lean',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (a) =>
      a.importer.startsWith(join(PROJECT, 'src'))
        ? { path: join(PROJECT, 'scripts/undici-lean.mjs') }
        : undefined,
    );
  },
};

/**
 * esbuild writes code as ASCII (its default charset) but copies legal comments as they are; one
 * non-ASCII letter (undici's licence) made Node decode and V8 scan the whole file as UTF-16.
 * Escaped, the file is ASCII: a one-byte string, decoded and parsed faster.
 */
async function asciiOnly(file: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const ascii = text.replace(/[\u0080-\u{10ffff}]/gu, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  if (ascii !== text) await writeFile(file, ascii);
}

/**
 * Bundles src/cli/main.ts into `outfile` (one ES module that needs nothing but Node), checks it
 * loads nothing else and that `--version` prints `version`.
 */
export async function bundleAgent(outfile: string, version: string): Promise<void> {
  // Written next to its place and renamed when every check passed: a bin/sysext-agent.js
  // started meanwhile runs the old bundle or the new one, never half of one.
  const tmp = `${outfile.replace(/\.mjs$/, '')}.tmp.mjs`;
  try {
    await build(tmp, version);
    await rename(tmp, outfile);
  } finally {
    await rm(tmp, { force: true });
  }
}

function warn(warnings: readonly { text: string }[]): void {
  for (const w of warnings) process.stderr.write(`esbuild: warning: ${w.text}\n`);
}

/** The function the entry calls to load the rest of the agent (see programPart). */
const PROGRAM_LOADER = '__sysextAgentProgram';

/**
 * esbuild's options for a part of the bundle: minified as said above, no code splitting (every
 * dynamic import() of a local module lands in this one file, so a refresh in the middle of a
 * run can never mix modules of two agent versions), the boot-time hooks the agent places on a
 * host (src/self/boot-hooks.ts) inside it.
 */
async function partOptions(version: string): Promise<BuildOptions> {
  return {
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    splitting: false,
    define: {
      SYSEXT_AGENT_VERSION: JSON.stringify(version),
      SYSEXT_AGENT_BOOT_FILES: JSON.stringify(await bootFileTexts()),
    },
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: false,
    legalComments: 'inline',
    // CommonJS dependencies may call require() with a name esbuild cannot see; an ES module has
    // no require, so give them one (taken without an import: see above).
    banner: {
      js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);",
    },
    plugins: [absentOptional, builtinsWithoutFacade, zodEnglishOnly, undiciLean],
    metafile: true,
    logLevel: 'silent',
  };
}

/**
 * The rest of the agent (src/cli/program.ts and everything it imports) as the body of one
 * function, which the entry calls only when a run needs it. V8 only pre-parses a function that
 * is not called, and Node's compile cache keeps that: the poll answered from its record
 * (src/poll/) pays about 4 ms for the 1.9 MB instead of evaluating every module's top level
 * (docs/performance.md). The body is an ES module's code without import or export, so it means
 * the same inside an async function: `import.meta` is the bundle's, `require` its own.
 */
async function programPart(version: string): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    ...(await partOptions(version)),
    stdin: {
      contents: `import { main } from './program.ts';\n__programLoaded(main);\n`,
      resolveDir: join(PROJECT, 'src/cli'),
      sourcefile: 'program-part.ts',
      loader: 'ts',
    },
  });
  warn(result.warnings);
  const code = result.outputFiles?.[0]?.text ?? '';
  return [
    // var, not let: the entry runs (top-level await) before this line is reached.
    `var ${PROGRAM_LOADER}Main;`,
    `async function ${PROGRAM_LOADER}() {`,
    `if (${PROGRAM_LOADER}Main) return ${PROGRAM_LOADER}Main;`,
    `const __programLoaded = (main) => { ${PROGRAM_LOADER}Main = main; };`,
    code,
    `return ${PROGRAM_LOADER}Main;`,
    '}',
  ].join('\n');
}

/** src/cli/main.ts's `import('./program.ts')`: the function programPart wrote. */
const programLoader: Plugin = {
  name: 'program-loader',
  setup(build) {
    build.onResolve({ filter: /^\.\/program\.ts$/ }, (a) => ({
      path: a.path,
      namespace: 'program-loader',
    }));
    build.onLoad({ filter: /.*/, namespace: 'program-loader' }, () => ({
      contents: `export async function main(argv) { return (await ${PROGRAM_LOADER}())(argv); }`,
      loader: 'js',
    }));
  },
};

/**
 * The bundle's text: the entry (src/cli/main.ts: the poll answered from its record, and what it
 * imports) evaluated when the file loads, then the rest of the agent inside the function the
 * entry calls when it needs it (programPart).
 */
export async function bundleText(version: string): Promise<string> {
  const esbuild = await import('esbuild');
  const options = await partOptions(version);
  const entry = await esbuild.build({
    ...options,
    entryPoints: [join(PROJECT, 'src/cli/main.ts')],
    outfile: 'sysext-agent.mjs',
    plugins: [...(options.plugins ?? []), programLoader],
  });
  warn(entry.warnings);
  return [
    `// sysext-agent ${version}: the agent and its dependencies in one file (scripts/bundle.ts).`,
    entry.outputFiles?.[0]?.text ?? '',
    await programPart(version),
  ].join('\n');
}

async function build(outfile: string, version: string): Promise<void> {
  await writeFile(outfile, await bundleText(version));
  await asciiOnly(outfile);
  // Once more from the result itself: esbuild parses the written file (code, not comments) and
  // would have to resolve every import and require of a literal module; nothing but a builtin
  // may be left, and nothing else may be pulled in.
  const again = await rereadBundle(outfile);
  const reread = Object.values(again.outputs)[0];
  const outside = (reread?.imports ?? []).filter((i) => !isBuiltin(i.path)).map((i) => i.path);
  const inputs = Object.keys(again.inputs);
  if (outside.length > 0 || inputs.length !== 1) {
    throw new Error(
      `the bundle loads more than Node builtins: ${[...outside, ...inputs].join(', ')}`,
    );
  }
  const smoke = await execa(process.execPath, [outfile, '--version'], { reject: false });
  if (smoke.stdout !== `sysext-agent ${version}`) {
    throw new Error(`the bundle's --version printed ${JSON.stringify(smoke.stdout)}`);
  }
}

/** esbuild's reading of a written bundle: what it imports and requires, as a metafile. */
export async function rereadBundle(file: string): Promise<Metafile> {
  const esbuild = await import('esbuild');
  const { metafile } = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    metafile: true,
    logLevel: 'silent',
  });
  return metafile;
}

async function main(): Promise<void> {
  const outfile = process.argv[2] ?? DIST_BUNDLE;
  const { version } = JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as {
    version: string;
  };
  await bundleAgent(outfile, version);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main().catch((err: unknown) => {
    process.stderr.write(`bundle: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
