/**
 * History compaction (an epoch reset) through the relay, in real Chromium (docs/guides/compaction.md, "Through the
 * relay"; docs/spec/relay-protocol.md, RELAY-EPOCH-*): two users, each its own browser context (own IndexedDB),
 * open one document of the demo served by `weft serve`, WebRTC off so the relay is their only path. Ana builds up
 * whiteboard history, Ben goes offline and edits, Ana starts an epoch, the relay follows it, Ben comes back: he is
 * offered the new epoch by the relay, re-applies his offline edits onto it and reopens, and both show the same
 * content with far fewer deleted items. Waits are on page state and server log lines, never fixed sleeps.
 */
import { rm } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { expect, test, type Page } from '@playwright/test'
import { startWeftServer, type WeftServer } from '../providers/test/integration/support/weftServer.js'
import {
  addShape,
  closeAll,
  dragOnBoard,
  hook,
  openUser,
  setOnline,
  setSetting,
  typeInEditor,
  waitFor,
  waitReady,
  waitSynced,
  type DemoUserPage,
} from './support/demoPage.js'
import { buildDemo } from './support/demoServer.js'

/** A JSON log line of `weft serve`. */
interface LogEntry {
  readonly msg?: string
  readonly doc?: string
  readonly from?: string
  readonly epoch?: string
}

let dist: string
let server: WeftServer
const logs: LogEntry[] = []

test.beforeAll(async () => {
  test.setTimeout(120_000)
  dist = await buildDemo()
  server = await startWeftServer({ staticDir: dist })
  // The relay logs each switch it makes ('switched epoch', RELAY-EPOCH-4 step 3): the test waits on that line.
  const stdout = server.child.stdout
  if (stdout)
    createInterface({ input: stdout }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as LogEntry)
      } catch {
        // not a log line
      }
    })
})
test.afterAll(async () => {
  await server?.stop()
  if (dist) await rm(dist, { recursive: true, force: true })
})

const baseUrl = (): string => `http://127.0.0.1:${server.port}`

/**
 * Drags the shape under board point `at` around and drops it back at `at`: a real press and release, and in between
 * `moves` pointer moves dispatched on the board inside the page (one CDP round trip each would take seconds). Each
 * move goes through the whiteboard's own handler and overwrites the shape's x and y: two deleted items per move.
 */
const jiggle = async (page: Page, at: { x: number; y: number }, moves: number): Promise<void> => {
  const box = await page.getByTestId('board').boundingBox()
  if (!box) throw new Error('the board is not visible')
  const start = { x: box.x + at.x, y: box.y + at.y }
  await page.mouse.move(start.x, start.y)
  await page.mouse.down()
  await page.evaluate(
    ({ start: s, moves: n }) => {
      const board = document.querySelector('[data-testid="board"]')
      if (!board) throw new Error('no board')
      for (let i = 1; i <= n; i++) {
        const d = i === n ? 0 : 1 + (i % 97) // the last move puts it back
        const init = { clientX: s.x + d, clientY: s.y + d, bubbles: true, isPrimary: true, pointerId: 1 }
        board.dispatchEvent(new PointerEvent('pointermove', init))
      }
    },
    { start, moves },
  )
  await page.mouse.up()
}

/** The page's content as the test compares it: text and shapes. */
const content = (u: DemoUserPage) =>
  hook(u.page, (h) => ({ text: h.getText(), shapes: h.shapes(), epoch: h.epoch() }))

test('an epoch reset through the relay: an offline peer re-applies its edits, both converge, a reload keeps the new epoch', async ({
  browser,
}) => {
  const id = `epoch-${process.pid}`
  const room = `demo/${id}` // the demo's documents are those of workspace `demo` (relay room `demo/<id>`)
  const pageErrors: string[] = []
  const watch = (u: DemoUserPage): void => {
    u.page.on('pageerror', (e) => pageErrors.push(`${u.name}: ${e.message}`))
    u.page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`${u.name}: console: ${m.text()}`)
    })
  }
  const ana = await openUser(browser, baseUrl(), id, { name: 'Ana', color: '#e53935' })
  const ben = await openUser(browser, baseUrl(), id, { name: 'Ben' })
  for (const u of [ana, ben]) {
    watch(u)
    await setSetting(u.page, 'use-webrtc', false) // the relay is the only path between the two contexts
    await waitFor(
      u.page,
      (h) => h.paths().length === 1 && h.paths()[0]?.kind === 'relay' && h.status()?.status === 'synced',
      null,
    )
  }

  // Ana writes, draws a rectangle at (40, 40) and drags it back and forth: hundreds of overwritten x/y values.
  await typeInEditor(ana.page, 'Plan: ship the board. ')
  await addShape(ana.page, 'rect', 40, 40)
  await jiggle(ana.page, { x: 100, y: 80 }, 600) // ends where it started
  await waitFor(ana.page, (h) => h.shapes()[0]?.x === 40 && h.shapes()[0]?.y === 40, null)
  await waitSynced(ana.page)
  await waitFor(
    ben.page,
    (h) =>
      h.getText() === 'Plan: ship the board. ' && h.shapes()[0]?.x === 40 && h.status()?.status === 'synced',
    null,
  )
  const before = await hook(ana.page, (h) => h.itemCounts())
  expect(before?.deletedItems).toBeGreaterThan(1000)
  // IndexedDB holds the same (the document panel's numbers)
  expect(await hook(ana.page, (h) => h.inspect())).toMatchObject({
    deletedItems: before?.deletedItems,
    epoch: null,
  })
  expect(await hook(ben.page, (h) => h.itemCounts()?.deletedItems)).toBe(before?.deletedItems)
  expect(await hook(ana.page, (h) => h.epoch())).toBe('0')

  // Ben goes offline and edits the text and the board (a new sticky note, the rectangle moved by (20, 10)).
  await setOnline(ben.page, false)
  await waitFor(ben.page, (h) => h.status()?.status === 'offline' && h.paths().length === 0, null)
  await typeInEditor(ben.page, 'Ben, offline: agreed.')
  await addShape(ben.page, 'sticky', 400, 60)
  await ben.page.getByTestId('sticky-editor').pressSequentially('from Ben')
  await ben.page.keyboard.press('Escape')
  await dragOnBoard(ben.page, { x: 100, y: 80 }, { x: 120, y: 90 })
  await waitFor(
    ben.page,
    (h) => h.shapes().length === 2 && h.shapes().some((s) => s.kind === 'rect' && s.x === 60 && s.y === 50),
    null,
  )
  await hook(ben.page, (h) => h.flushed())
  const benOpens = await hook(ben.page, (h) => h.opens)

  // Ana starts an epoch; her page reopens the document in it, and the relay follows (RELAY-EPOCH-4).
  const epoch = await hook(ana.page, (h) => h.startEpoch())
  expect(epoch).not.toBe('0')
  await waitFor(ana.page, (h, e) => h.ready && h.epoch() === e && h.localEpoch() === e, epoch)
  await expect
    .poll(() =>
      logs.some((l) => l.msg === 'switched epoch' && l.doc === room && l.from === '0' && l.epoch === epoch),
    )
    .toBe(true)
  await waitSynced(ana.page)
  const after = await hook(ana.page, (h) => h.itemCounts())
  expect(after?.deletedItems).toBeLessThan((before?.deletedItems ?? 0) / 20)
  // IndexedDB switched in one step: the new epoch's snapshot and record, no old update left in the tail
  expect(await hook(ana.page, (h) => h.inspect())).toMatchObject({
    epoch,
    deletedItems: after?.deletedItems,
    storedUpdates: 0,
  })
  expect(await hook(ana.page, (h) => h.getText())).toBe('Plan: ship the board. ')
  expect(await hook(ben.page, (h) => h.epoch())).toBe('0') // still offline, in the old epoch

  // Ben comes back: offered the new epoch by the relay, he re-applies his offline edits onto it and reopens.
  await setOnline(ben.page, true)
  await waitFor(ben.page, (h, a) => h.ready && h.epoch() === a.epoch && h.opens === a.opens + 1, {
    epoch,
    opens: benOpens,
  })
  for (const u of [ana, ben]) {
    await waitFor(
      u.page,
      (h) =>
        h.getText().includes('Ben, offline: agreed.') &&
        h.shapes().some((s) => s.kind === 'sticky' && s.text === 'from Ben') &&
        h.shapes().some((s) => s.kind === 'rect' && s.x === 60 && s.y === 50),
      null,
    )
    await waitSynced(u.page)
  }
  const [a, b] = await Promise.all([content(ana), content(ben)])
  expect(b).toEqual(a)
  expect(a.epoch).toBe(epoch)
  expect(a.text).toBe('Plan: ship the board. Ben, offline: agreed.')
  expect(a.shapes).toHaveLength(2)
  for (const u of [ana, ben]) {
    const counts = await hook(u.page, (h) => h.itemCounts())
    expect(counts?.deletedItems).toBeLessThan((before?.deletedItems ?? 0) / 20)
    test.info().annotations.push({
      type: `${u.name}: items before → after the reset`,
      description: `${JSON.stringify(before)} → ${JSON.stringify(counts)}`,
    })
  }

  // A reload of Ben's page opens the new epoch from IndexedDB, with his edits, and switches nothing.
  await hook(ben.page, (h) => h.flushed())
  await ben.page.reload()
  await waitReady(ben.page, id)
  expect(await hook(ben.page, (h) => h.localEpoch())).toBe(epoch)
  expect(await hook(ben.page, (h) => h.localText())).toBe(a.text)
  await waitSynced(ben.page)
  expect(await hook(ben.page, (h) => h.opens)).toBe(1) // no epoch change after the load
  expect(await content(ben)).toEqual(a)

  // A new device (nothing stored) that joins after the reset is moved to the new epoch by the relay.
  const cleo = await openUser(browser, baseUrl(), id, { name: 'Cleo' })
  watch(cleo)
  await waitFor(cleo.page, (h, want) => h.ready && h.epoch() === want.epoch && h.getText() === want.text, {
    epoch,
    text: a.text,
  })
  await waitSynced(cleo.page)
  expect(await content(cleo)).toEqual(a)
  expect(pageErrors).toEqual([])
  await closeAll([ana, ben, cleo])
})
