import { expect, test } from '@playwright/test'
import { fileURLToPath } from 'node:url'
import { bundle } from './support/bundle.js'
import { serveFiles, type StaticServer } from './support/staticServer.js'

let server: StaticServer

test.beforeAll(async () => {
  const js = await bundle(fileURLToPath(new URL('./pages/indexedDbStore.ts', import.meta.url)))
  server = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
  })
})
test.afterAll(async () => server.close())

test('STORE-2.2 STORE-2.4 STORE-3.2 two connections to one IndexedDB database append, compact and remove in turn (Chromium)', async ({
  page,
}) => {
  await page.goto(server.url)
  const result = await page.waitForFunction(() => (window as unknown as { result?: unknown }).result)
  expect(await result.jsonValue()).toEqual({
    turns: [1, 2, 3, 4, 5, 6],
    afterTurns: [0, 1, 2, 3, 4, 5],
    compacted: true,
    burstOk: true,
    afterRemove: [1, 2],
    final: [10, 11],
  })
})
