// @ts-check
import tseslint from 'typescript-eslint'

/** Workspaces a package must never import (see ../shared/STYLE.md, "Dependency direction"). */
const forbidden = {
  core: ['@weft/providers', '@weft/signaling', '@weft/demo'],
  'sqlite-store': ['@weft/providers', '@weft/signaling', '@weft/demo'],
  providers: ['@weft/signaling', '@weft/demo'],
  signaling: ['@weft/providers', '@weft/demo'],
}

const direction = Object.entries(forbidden).map(([pkg, names]) => ({
  files: [`${pkg}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...names.map((name) => ({
            group: [name, `${name}/*`],
            message: `${pkg} must not depend on ${name}`,
          })),
          {
            group: ['../../*/src/*', '../../../*/src/*'],
            message: 'import other workspaces by package name, never by relative path',
          },
        ],
      },
    ],
  },
}))

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'demo/dist/**',
      'test-results/**',
      'playwright-report/**',
      '.scratch/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.check.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: [
      '**/test/**/*.ts',
      'bench/**/*.ts',
      'e2e/**/*.ts',
      'scripts/**/*.ts',
      'signaling/src/cli/**/*.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  ...direction,
)
