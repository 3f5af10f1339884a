import { expect, test } from '@playwright/test'
import { fileURLToPath } from 'node:url'
import { bundle } from './support/bundle.js'
import { serveFiles, type StaticServer } from './support/staticServer.js'

let server: StaticServer

test.beforeAll(async () => {
  const js = await bundle(fileURLToPath(new URL('./pages/pendingCrash.ts', import.meta.url)))
  server = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
  })
})
test.afterAll(async () => server.close())

test('STORE-9.3 a crash after any store write never leaves a stored local change uncounted (IndexedDbDocStore, Chromium)', async ({
  page,
}) => {
  await page.goto(server.url)
  const result = await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, {
    timeout: 50_000,
  })
  const value = (await result.jsonValue()) as { writes: number; runs: number; failures: string[] }
  expect(value.failures).toEqual([])
  expect(value.writes).toBeGreaterThan(5)
  expect(value.runs).toBe(value.writes + 2)
})
