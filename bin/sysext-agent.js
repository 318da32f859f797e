#!/usr/bin/env node
// Runs the compiled agent (npm's `prepare` builds dist/); from a checkout without a build,
// Node >= 22.18 can run the TypeScript sources directly (type stripping).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
await import(
  existsSync(compiled) ? compiled.href : new URL('../src/cli/main.ts', import.meta.url).href
);
