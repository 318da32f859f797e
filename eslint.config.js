import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/repo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The pure core: parsing, verification, version order, verity maths, planning, the
    // transaction's description and the proof over the systemd port. No I/O library may enter;
    // the edges (src/net, src/store, src/systemd/tools.ts, src/health, src/commands) do the I/O.
    files: [
      'src/errors.ts',
      'src/compat/**',
      'src/manifest/**',
      'src/version/**',
      'src/plan/**',
      'src/verity/tree.ts',
      'src/verity/superblock.ts',
      'src/transaction/steps.ts',
      'src/systemd/proof.ts',
      'src/metrics/format.ts',
      'src/systemd/search-path.ts',
      'src/systemd/trial-script.ts',
      'src/rescue/plan.ts',
      'src/rescue/describe.ts',
      'src/store/layout.ts',
      'src/util/duration.ts',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            'fs',
            'node:fs',
            'fs/promises',
            'node:fs/promises',
            'child_process',
            'node:child_process',
            'node:net',
            'node:http',
            'node:https',
            'undici',
            'execa',
            'pino',
          ].map((name) => ({
            name,
            message: 'pure core: do I/O in an edge module and pass the result in',
            allowTypeImports: true,
          })),
        },
      ],
    },
  },
);
