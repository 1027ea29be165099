// Lint: the recommended JS and type-aware TypeScript rules, plus the few habits STYLE.md asks for.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.data/', 'coverage/', 'release/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // No TS enums: states are string-literal unions that match the database (STYLE.md).
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Use a string-literal union.' }],
      // Only config modules read process.env (STYLE.md).
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment only in config modules.' }],
    },
  },
  {
    files: ['src/**/config.ts', 'src/**/*-config.ts', 'src/bin/**', 'test/**', 'bench/**', '**/*.test.ts', 'vitest.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
