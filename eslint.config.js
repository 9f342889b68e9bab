// ESLint (flat config): typescript-eslint's recommended rules over the whole project (the server in
// src/, the console in web/src/, tests, benchmarks, scripts and the selector examples), tuned where
// the code does on purpose what a rule guards against. `npm run lint` runs it.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'web/dist/', 'node_modules/', 'test-output/', 'bench/results/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      // A leading underscore marks a parameter an interface requires but this implementation ignores.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // `catch {}` where failing is the expected case (a process already gone, a best-effort cleanup).
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['web/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // The HTTP parsers and their tests look for control characters on purpose (RFC 9110/9112 refusals).
    files: ['src/gateway/http/**/*.ts', 'src/upstream/**/*.ts', 'test/http/**/*.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // The state analysis walks acorn's loosely typed AST, and a scope chain from `this` outwards.
    files: ['src/selector/state-analysis.ts', 'src/selector/state-analysis/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    // Tests read JSON answers off the wire; `any` keeps their assertions short.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Selector examples are scripts the sandbox calls by name: `select` is their interface.
    files: ['scripts-examples/**/*.js'],
    languageOptions: { sourceType: 'script', globals: {} },
    rules: { '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^select$' }] },
  },
);
