import { expect, test } from '@playwright/test'
import { fileURLToPath } from 'node:url'
import { bundle } from './support/bundle.js'
import { serveFiles, type StaticServer } from './support/staticServer.js'

let server: StaticServer

test.beforeAll(async () => {
  const js = await bundle(fileURLToPath(new URL('./pages/coreSync.ts', import.meta.url)))
  server = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
  })
})
test.afterAll(async () => server.close())

test('SYNC-5.1 SYNC-7.1 the sync engine runs in Chromium: chunked 1 MB update, garbage frame rejected', async ({
  page,
}) => {
  await page.goto(server.url)
  const result = await page.waitForFunction(() => (window as unknown as { result?: unknown }).result)
  expect(await result.jsonValue()).toEqual({ chunkedOk: true, errors: ['malformed-message'], synced: false })
})
