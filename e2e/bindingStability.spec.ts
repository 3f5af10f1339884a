/**
 * The Y.Doc stays put (COMPACT-8, PROV-5.17), in real Chromium: y-codemirror.next and y-prosemirror bound to a
 * document opened with openDoc (IndexedDB, the relay of `weft serve`, the default epoch mode) while a peer (a second
 * client of the relay, in the page) resets the epoch and the relay follows it and offers it to the document. No binding breaks (typing still changes the same Y.Text and Y.XmlFragment and the
 * editors show it), no edit is lost, and the reopen takes the new epoch and delivers the edits made meanwhile.
 * Waits are on page and peer state, never fixed sleeps.
 */
import { fileURLToPath } from 'node:url'
import { expect, test, type Page } from '@playwright/test'
import { startWeftServer, type WeftServer } from '../providers/test/integration/support/weftServer.js'
import { bundle } from './support/bundle.js'
import { serveFiles, type StaticServer } from './support/staticServer.js'

let relay: WeftServer
let pages: StaticServer

test.beforeAll(async () => {
  const js = await bundle(fileURLToPath(new URL('./pages/bindingStability.ts', import.meta.url)))
  pages = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
  })
  relay = await startWeftServer()
})
test.afterAll(async () => {
  await pages?.close()
  await relay?.stop()
})

type PageState = {
  epoch: string
  status: string
  pending: number
  epochChanged: number
  epochAvailable: string | null
  sameDoc: boolean
  codeText: string
  codeShown: string
  proseText: string
  proseShown: string
}

const state = (page: Page): Promise<PageState> =>
  page.evaluate(() => (window as unknown as { hook: { state: () => PageState } }).hook.state())

/** Types into an editor through Chromium's keyboard, at the end of its content. */
const typeInto = async (page: Page, selector: string, text: string): Promise<void> => {
  await page.click(selector)
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text)
}

type Hook = {
  state: () => PageState
  peer: () => { epoch: string; code: string; prose: string }
  startEpoch: () => Promise<string>
  peerInsert: (text: string) => void
  reopen: () => Promise<PageState>
}
const peerText = async (page: Page) => {
  const { code, prose } = await page.evaluate(() => (window as unknown as { hook: Hook }).hook.peer())
  return { code, prose }
}

test('COMPACT-8 / PROV-5.17: editor bindings survive an epoch reset; nothing is lost; the reopen takes the epoch', async ({
  page,
}) => {
  const room = `binding-${process.pid}`
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${pages.url}/?relay=${encodeURIComponent(relay.relayUrl)}&room=${room}`)
  await page.waitForFunction(() => 'hook' in window || 'failed' in window)
  expect(await page.evaluate(() => (window as unknown as { failed?: string }).failed)).toBeUndefined()

  await typeInto(page, '#cm .cm-content', 'code before. ')
  await typeInto(page, '#pm .ProseMirror', 'prose before. ')
  await expect.poll(async () => (await state(page)).status).toBe('synced')
  await expect
    .poll(() => peerText(page))
    .toEqual({ code: 'code before. ', prose: '<paragraph>prose before. </paragraph>' })

  // The peer resets the epoch; the relay follows it and offers it to the page, which keeps its Y.Doc.
  const epoch = await page.evaluate(() => (window as unknown as { hook: Hook }).hook.startEpoch())
  await expect.poll(async () => (await state(page)).epochAvailable).toBe(epoch)
  const deferred = await state(page)
  expect(deferred.sameDoc).toBe(true)
  expect(deferred.epochChanged).toBe(0)
  expect(deferred.epoch).not.toBe(epoch)

  // Typing still changes the same Y.Text / Y.XmlFragment, and the editors show it.
  await typeInto(page, '#cm .cm-content', 'code after.')
  await typeInto(page, '#pm .ProseMirror', 'prose after.')
  const meanwhile = await state(page)
  expect(meanwhile.sameDoc).toBe(true)
  expect(meanwhile.codeText).toBe('code before. code after.')
  expect(meanwhile.codeShown).toBe(meanwhile.codeText)
  expect(meanwhile.proseText).toBe('prose before. prose after.')
  expect(meanwhile.proseShown).toBe(meanwhile.proseText)
  // Not saved: the relay is in the new epoch and holds none of it.
  expect(meanwhile.pending).toBeGreaterThan(0)
  expect(meanwhile.status).not.toBe('synced')
  expect((await peerText(page)).code).toBe('code before. ')

  // The reopen (a reload would do the same) takes the epoch before the editors are bound again.
  const reopened = await page.evaluate(() => (window as unknown as { hook: Hook }).hook.reopen())
  expect(reopened.epoch).toBe(epoch)
  expect(reopened.codeShown).toBe('code before. code after.')
  expect(reopened.proseShown).toBe('prose before. prose after.')
  await expect
    .poll(() => peerText(page))
    .toEqual({ code: 'code before. code after.', prose: '<paragraph>prose before. prose after.</paragraph>' })
  await expect.poll(async () => (await state(page)).pending).toBe(0)
  await expect.poll(async () => (await state(page)).status).toBe('synced')
  // Still bound after the reopen: the peer's edit shows in the page's editor.
  await page.evaluate(() => (window as unknown as { hook: Hook }).hook.peerInsert('// '))
  await expect.poll(async () => (await state(page)).codeShown).toBe('// code before. code after.')
  expect(errors).toEqual([])
})
