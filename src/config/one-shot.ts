/**
 * Options for a document parsed once per run (the manifest, the configuration, the state):
 * zod's interpreter. By default zod compiles a parser for each object schema (new Function)
 * on its first parse, which costs more than the one parse it then speeds up (about 5 ms for
 * the manifest, docs/performance.md "Start-up").
 */
export const ONE_SHOT = { jitless: true } as const;
