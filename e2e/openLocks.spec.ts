import { expect, test, type Page } from '@playwright/test'
import { fileURLToPath } from 'node:url'
import { bundle } from './support/bundle.js'
import { serveFiles, type StaticServer } from './support/staticServer.js'

let server: StaticServer

test.beforeAll(async () => {
  const js = await bundle(fileURLToPath(new URL('./pages/openLocks.ts', import.meta.url)))
  server = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
  })
})
test.afterAll(async () => server.close())

interface Locks {
  web: boolean
  hold(name: string): Promise<void>
  release(name: string): void
  ifFree(name: string): Promise<'ran' | 'skipped'>
}
const open = async (page: Page) => {
  await page.goto(server.url)
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready)
}
const call = (page: Page, method: 'hold' | 'release' | 'ifFree', name: string): Promise<unknown> =>
  page.evaluate(
    async ({ m, n }): Promise<unknown> => (window as unknown as { openLocks: Locks }).openLocks[m](n),
    {
      m: method,
      n: name,
    },
  )

test('WS-CLIENT-5.3 a document held open in one tab is not free in another; closing that tab frees it (Web Locks, Chromium)', async ({
  context,
}) => {
  const [a, b] = [await context.newPage(), await context.newPage()]
  await Promise.all([open(a), open(b)])
  expect(await a.evaluate(() => (window as unknown as { openLocks: Locks }).openLocks.web)).toBe(true)
  const name = 'weft-open:team/y'
  expect(await call(b, 'ifFree', name)).toBe('ran')
  await call(a, 'hold', name)
  expect(await call(b, 'ifFree', name)).toBe('skipped')
  await call(a, 'release', name)
  expect(await call(b, 'ifFree', name)).toBe('ran')
  // A tab that goes away (closed, crashed) drops its locks.
  await call(a, 'hold', name)
  expect(await call(b, 'ifFree', name)).toBe('skipped')
  await a.close()
  await expect.poll(() => call(b, 'ifFree', name)).toBe('ran')
})
