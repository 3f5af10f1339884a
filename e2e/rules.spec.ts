/**
 * The demo's rule in real Chromium (issue 16 item 7): `weft serve` runs as `npm start` runs it, with the demo's rules
 * (`--rules demo/scripts/rules.mjs`: a locked shape is changed by its locker only) and its dev auth secret, each page
 * minting a token for its own user (a demo arrangement, demo/src/devToken.ts). WebRTC is off: the relay is the one
 * path, so it alone decides what reaches the others (relay-less peers do not check rules, docs/guides/rules.md).
 */
import { expect, test } from '@playwright/test'
import {
  addShape,
  closeAll,
  dragOnBoard,
  hook,
  openUser,
  waitFor,
  waitSynced,
  type DemoUserPage,
} from './support/demoPage.js'
import { serveDemo } from './support/demoServer.js'

const demo = serveDemo({ rules: true })

const relayOnly = { relay: true, webrtc: false } as const

/** The one rectangle of the board as `u` sees it (x, y, lock). */
const rect = (u: DemoUserPage) =>
  hook(u.page, (h) => {
    const s = h.shapes().find((shape) => shape.kind === 'rect')
    return s ? { id: s.id, x: s.x, y: s.y, lockedBy: s.lockedBy, lockedByName: s.lockedByName } : null
  })

test('RULES-4.2: a shape Ada locked cannot be moved by Bo, neither through the board nor around it', async ({
  browser,
}) => {
  test.setTimeout(120_000) // three users, each loading the demo in its own context
  const id = `rules-${process.pid}-${Date.now()}`
  const ada = await openUser(browser, demo.server.url, id, { name: 'Ada', settings: relayOnly })
  const bo = await openUser(browser, demo.server.url, id, { name: 'Bo', settings: relayOnly })
  for (const u of [ada, bo]) await waitSynced(u.page)

  // Ada creates a rectangle at (100, 100) (140 × 90, selected) and locks it.
  await addShape(ada.page, 'rect', 100, 100)
  await ada.page.getByTestId('lock-shape').click()
  await expect(ada.page.getByTestId('lock-shape')).toHaveText('Unlock')
  await waitFor(bo.page, (h) => h.shapes().some((s) => s.lockedByName === 'Ada' && s.lockedBy !== ''), null)
  await expect(bo.page.locator('[data-locked]')).toContainText('Ada')
  const locked = await rect(ada)
  expect(locked).toMatchObject({ x: 100, y: 100, lockedByName: 'Ada' })
  if (!locked) throw new Error('no rectangle')

  // Bo drags it: refused on the page at once (the same rules, checked before writing), nothing is written.
  await dragOnBoard(bo.page, { x: 170, y: 145 }, { x: 320, y: 300 })
  await expect(bo.page.getByTestId('board-notice')).toBeVisible()
  await expect(bo.page.getByTestId('board-notice')).toHaveText('Locked by Ada: not allowed')
  expect(await rect(bo)).toMatchObject({ x: 100, y: 100 })
  expect(await hook(bo.page, (h) => h.status()?.pending)).toBe(0)
  // Bo's lock button cannot take Ada's lock either.
  await bo.page.getByTestId('lock-shape').click()
  await expect(bo.page.getByTestId('board-notice')).toHaveText('Locked by Ada: not allowed')

  // Ada, the locker, still moves it.
  await dragOnBoard(ada.page, { x: 170, y: 145 }, { x: 190, y: 165 })
  await waitFor(bo.page, (h) => h.shapes().some((s) => s.kind === 'rect' && s.x === 120 && s.y === 120), null)
  await waitSynced(ada.page)

  // Bo writes around the board, straight into the Y.Doc: the relay refuses it under the same rules.
  await hook(bo.page, (h) => {
    const shapes = h.handle?.doc.getMap('shapes')
    const record = shapes?.get(h.shapes().find((s) => s.kind === 'rect')?.id ?? '') as
      { set(key: string, value: unknown): void } | undefined
    record?.set('x', 700)
  })
  // Bo's page announced rollback: the relay sends `rejected` (RULES-4.3), Bo's page rolls the write back (RULES-5.2)
  // and stays connected, and the board shows the relay's reason.
  await waitFor(bo.page, (h) => h.notice() === 'Locked by Ada: not allowed (refused by the server)', null)
  await waitFor(bo.page, (h) => h.shapes().some((s) => s.kind === 'rect' && s.x === 120), null)
  // Bo's later valid edit reaches Ada: the refused one, sent before it on the same connection, was decided first.
  await addShape(bo.page, 'ellipse', 400, 300)
  await waitFor(ada.page, (h) => h.shapes().some((s) => s.kind === 'ellipse'), null)
  expect(await rect(ada)).toMatchObject({ x: 120, y: 120, lockedByName: 'Ada' })

  // The relay's store: a third user loading the document from it sees the rectangle where Ada left it.
  const cy = await openUser(browser, demo.server.url, id, { name: 'Cy', settings: relayOnly })
  await waitFor(cy.page, (h) => h.shapes().some((s) => s.kind === 'ellipse'), null)
  expect(await rect(cy)).toMatchObject({ x: 120, y: 120, lockedByName: 'Ada' })
  await closeAll([ada, bo, cy])
})
