import { defineConfig } from 'vitest/config'

const shared = {
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
}

export default defineConfig({
  test: {
    // Native WebRTC crashes inside worker_threads: keep the default `forks` pool.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { ...shared, extends: true, test: { name: 'core', include: ['core/test/**/*.test.ts'] } },
      {
        ...shared,
        extends: true,
        test: { name: 'sqlite-store', include: ['sqlite-store/test/**/*.test.ts'] },
      },
      { ...shared, extends: true, test: { name: 'providers', include: ['providers/test/**/*.test.ts'] } },
      { ...shared, extends: true, test: { name: 'signaling', include: ['signaling/test/**/*.test.ts'] } },
      // Pure modules of the demo (its UI is tested in Chromium by Playwright, e2e/).
      { ...shared, extends: true, test: { name: 'demo', include: ['demo/test/**/*.test.ts'] } },
    ],
  },
})
