/**
 * The demo's document list is a workspace (issue 15 item 7; docs/guides/workspaces.md): the catalogue of workspace
 * `demo` on `weft serve`, in real Chromium. Every user is its own browser context (own IndexedDB); the server is
 * `weft serve` as a child process, the demo built once with Vite. Waits are on page state (`window.weftDemo`,
 * `window.weftWorkspace`), never fixed sleeps.
 */
import { expect, test, type Page } from '@playwright/test'
import type { WeftWorkspaceHook } from '../demo/src/workspaceHook.js'
import { closeAll, hook, openUser, typeInEditor, waitFor, waitReady } from './support/demoPage.js'
import { serveDemo } from './support/demoServer.js'

const demo = serveDemo()
let docCounter = 0
const newDoc = (): string => `ws-${process.pid}-${++docCounter}`

type WsWindow = Window & { weftWorkspace: WeftWorkspaceHook }

/** Waits until the workspace has nothing to sync and nothing pending. */
const waitWorkspaceSynced = (page: Page): Promise<unknown> =>
  page.waitForFunction(() => {
    const s = (window as unknown as WsWindow).weftWorkspace?.status()
    return s?.status === 'synced' && s.pending === 0
  })

/** The row of document `id` in the list. */
const row = (page: Page, id: string) => page.getByTestId('doc-list').locator(`li[data-doc="${id}"]`)

test('WS-CLIENT-1.3, 1.4, 2.1, 3.1 in the demo: A creates and renames a document; B sees it and opens it lazily; A deletes it and B’s list drops it', async ({
  browser,
}) => {
  const ana = await openUser(browser, demo.server.url, newDoc(), { name: 'Ana' })
  const ben = await openUser(browser, demo.server.url, newDoc(), { name: 'Ben' })
  const first = await hook(ana.page, (h) => h.docId)
  await ana.page.getByTestId('new-doc').click()
  await waitFor(ana.page, (h, old) => h.ready && h.docId !== old, first)
  const id = (await hook(ana.page, (h) => h.docId)) ?? ''
  await expect(row(ana.page, id)).toHaveCount(1)

  // Once in three CI runs the rename input did not appear after the click while the workspace was still syncing
  // (the list re-rendered; cause not found): click again until it shows, then go on.
  await expect(async () => {
    if (!(await ana.page.getByTestId('rename-input').isVisible()))
      await row(ana.page, id).getByTestId('rename-doc').click()
    await expect(ana.page.getByTestId('rename-input')).toBeVisible({ timeout: 2000 })
  }).toPass({ timeout: 20_000 })
  await ana.page.getByTestId('rename-input').fill('Quarterly plan')
  await ana.page.getByTestId('rename-input').press('Enter')
  await expect(row(ana.page, id).locator('a')).toHaveText('Quarterly plan')
  await expect(ana.page.getByTestId('doc-title')).toHaveValue('Quarterly plan') // the open document's title too
  await typeInEditor(ana.page, 'Written by Ana')

  // Ben's list shows it (the catalogue synced through the relay); he has not loaded it.
  await expect(row(ben.page, id).locator('a')).toHaveText('Quarterly plan')
  expect(await ben.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.loaded())).not.toContain(
    id,
  )
  await row(ben.page, id).locator('a').click()
  await waitFor(ben.page, (h, d) => h.ready && h.docId === d && h.getText() === 'Written by Ana', id)
  await expect(ben.page.getByTestId('doc-title')).toHaveValue('Quarterly plan')

  // Ana deletes it: a tombstone that reaches Ben's list; his open copy stays usable.
  await row(ana.page, id).getByTestId('delete-doc').click()
  await expect(row(ana.page, id)).toHaveCount(0)
  await waitFor(ana.page, (h, d) => h.ready && h.docId !== d, id) // Ana's page moved to another document
  await expect(row(ben.page, id)).toHaveCount(0)
  await ben.page.waitForFunction(
    (d) => (window as unknown as WsWindow).weftWorkspace.deleted().includes(d),
    id,
  )
  expect(await hook(ben.page, (h) => h.getText())).toBe('Written by Ana')
  await closeAll([ana, ben])
})

test('WS-CLIENT-1.1 in the demo: the list works offline: after going offline and reloading, it shows from IndexedDB', async ({
  browser,
}) => {
  const id = newDoc()
  const ana = await openUser(browser, demo.server.url, id, { name: 'Ana' })
  await ana.page.getByTestId('doc-title').fill('Kept offline')
  await ana.page.getByTestId('doc-title').press('Enter')
  await expect(row(ana.page, id).locator('a')).toHaveText('Kept offline')
  expect(await ana.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.offlineReady())).toBe(
    true,
  )
  await waitWorkspaceSynced(ana.page)
  const before = await ana.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.count())

  await ana.context.setOffline(true)
  await ana.page.reload() // served by the demo's service worker, the list and the document from IndexedDB
  await waitReady(ana.page, id)
  await expect(row(ana.page, id).locator('a')).toHaveText('Kept offline')
  expect(await ana.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.count())).toBe(before)
  await ana.page.waitForFunction(() => {
    const s = (window as unknown as WsWindow).weftWorkspace.status()?.status
    return s === 'offline' || s === 'connecting'
  })

  // Renamed while offline; synced once back online.
  await row(ana.page, id).getByTestId('rename-doc').click()
  await ana.page.getByTestId('rename-input').fill('Renamed offline')
  await ana.page.getByTestId('rename-input').press('Enter')
  // the rename waits for the relay (counted once IndexedDB stored it: slow on a loaded CI machine)
  await expect(ana.page.getByTestId('workspace-status')).toContainText('pending', { timeout: 20_000 })
  await ana.context.setOffline(false)
  await waitWorkspaceSynced(ana.page)
  await expect(ana.page.getByTestId('workspace-status')).toHaveText('Workspace synced')
  const ben = await openUser(browser, demo.server.url, newDoc(), { name: 'Ben' })
  await expect(row(ben.page, id).locator('a')).toHaveText('Renamed offline')
  await closeAll([ana, ben])
})

test('WS-CLIENT-3.2, 6.1 in the demo: "Large workspace" creates 2,000 documents with progress; the list renders what is visible; one opens lazily', async ({
  browser,
}) => {
  test.setTimeout(300_000)
  const ana = await openUser(browser, demo.server.url, newDoc(), { name: 'Ana' })
  // Every value the progress text takes, and the page's long tasks, while the documents are created.
  await ana.page.evaluate(() => {
    const seen = new Set<string>()
    const text = document.querySelector('[data-testid="large-progress-text"]')
    if (!text) throw new Error('no progress text')
    new MutationObserver(() => seen.add(text.textContent ?? '')).observe(text, {
      childList: true,
      characterData: true,
      subtree: true,
    })
    const longTasks: number[] = []
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push(e.duration)
    }).observe({ type: 'longtask' })
    Object.assign(window, { largeSeen: seen, largeLongTasks: longTasks })
  })
  const started = Date.now()
  await ana.page.getByTestId('large-workspace').click()
  await expect(ana.page.getByTestId('large-workspace')).toBeDisabled()
  await expect(ana.page.getByTestId('large-progress-text')).toContainText('Created 2,000 / 2,000', {
    timeout: 240_000,
  })
  const created = Date.now() - started
  const { steps, longest } = await ana.page.evaluate(() => {
    const w = window as unknown as { largeSeen: Set<string>; largeLongTasks: number[] }
    return { steps: w.largeSeen.size, longest: Math.max(0, ...w.largeLongTasks) }
  })
  expect(steps).toBeGreaterThan(40) // the progress showed between batches (80 batches of 25)
  const count = await ana.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.count())
  expect(count).toBeGreaterThanOrEqual(2001)
  await expect(ana.page.getByTestId('doc-count')).toHaveText(`(${count.toLocaleString('en')})`)
  expect(
    await ana.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.renderedRows()),
  ).toBeLessThan(40)

  // Scroll to the end of the list: the last document's row renders within a frame or two.
  const scrollStart = Date.now()
  await ana.page.getByTestId('doc-scroll').evaluate((el) => el.scrollTo(0, el.scrollHeight))
  const last = await ana.page.evaluate(
    () => (window as unknown as WsWindow).weftWorkspace.entries().at(-1)?.id ?? '',
  )
  await expect(row(ana.page, last)).toBeVisible()
  const scrolled = Date.now() - scrollStart
  test.info().annotations.push({
    type: 'large workspace',
    description: `2,000 documents created in ${created} ms (progress shown ${steps} times, longest task ${longest} ms); scroll to the last of ${count} rows: ${scrolled} ms`,
  })

  // Ben, on a new device, gets the list of 2,001+ documents and opens one of them lazily.
  await ana.page.waitForFunction(
    () => (window as unknown as WsWindow).weftWorkspace.status()?.status === 'synced',
    null,
    { timeout: 120_000 },
  )
  const ben = await openUser(browser, demo.server.url, newDoc(), { name: 'Ben' })
  await ben.page.waitForFunction((n) => (window as unknown as WsWindow).weftWorkspace.count() >= n, count)
  const target = (await ben.page.evaluate(
    () => (window as unknown as WsWindow).weftWorkspace.entries().find((e) => e.id.startsWith('bulk-'))?.id,
  )) as string
  expect(await ben.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.loaded())).not.toContain(
    target,
  )
  await ben.page.getByTestId('doc-scroll').evaluate((el) => el.scrollTo(0, 0))
  await row(ben.page, target).locator('a').click()
  await waitFor(ben.page, (h, d) => h.ready && h.docId === d && h.getText().includes('one of 2000'), target)
  // Only the open document holds a Y.Doc: the 2,000 others cost nothing on Ben's page.
  expect(await ben.page.evaluate(() => (window as unknown as WsWindow).weftWorkspace.loaded())).toEqual([
    target,
  ])
  await closeAll([ana, ben])
})
