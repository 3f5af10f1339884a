/**
 * Simulated demo users for Playwright: each user is its own browser context (own IndexedDB, no BroadcastChannel
 * shared with others), driving the page through its UI and reading state through `window.weftDemo`.
 */
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test'
import type { WeftDemoHook } from '../../demo/src/testHook.js'

/** `window` with the demo's test hook. */
export type HookWindow = Window & { weftDemo: WeftDemoHook }

/** One simulated user. */
export interface DemoUserPage {
  readonly name: string
  readonly context: BrowserContext
  readonly page: Page
}

/** Options of {@link openUser}. */
export interface OpenUserOptions {
  readonly name: string
  readonly color?: string
  /** Query string, e.g. `schema=2`. */
  readonly query?: string
  /** A full URL to open instead (a share link); `docId` must be the document it names. */
  readonly url?: string
  /** The paths the page uses (its saved settings); default the page's own (relay and WebRTC on). */
  readonly settings?: { readonly relay: boolean; readonly webrtc: boolean }
}

/** Opens the demo on document `docId` in a new browser context, as user `name`; resolves when a document is open. */
export const openUser = async (
  browser: Browser,
  baseUrl: string,
  docId: string,
  options: OpenUserOptions,
): Promise<DemoUserPage> => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 820 } })
  const user = JSON.stringify({ name: options.name, color: options.color ?? '#3949ab' })
  await context.addInitScript((u) => localStorage.setItem('weft-demo:user', u), user)
  if (options.settings) {
    const settings = JSON.stringify(options.settings)
    await context.addInitScript((s) => localStorage.setItem('weft-demo:settings', s), settings)
  }
  const page = await context.newPage()
  await page.goto(options.url ?? `${baseUrl}/${options.query ? `?${options.query}` : ''}#doc=${docId}`)
  await waitReady(page, docId)
  return { name: options.name, context, page }
}

/** Waits until the page shows document `docId`. */
export const waitReady = async (page: Page, docId: string): Promise<void> => {
  await page.waitForFunction((id) => {
    const hook = (window as unknown as HookWindow).weftDemo
    return hook?.ready === true && hook.docId === id
  }, docId)
}

/** Waits until `predicate(window.weftDemo, arg)` is true in the page. */
export const waitFor = async <A>(
  page: Page,
  predicate: (hook: WeftDemoHook, arg: A) => boolean,
  arg: A,
): Promise<void> => {
  await page.waitForFunction(inPage<boolean>(`(${predicate.toString()})(window.weftDemo, arg)`), arg)
}

/**
 * A page function calling `window.weftDemo` with `body`. Built here in Node: the demo's CSP forbids `new Function`
 * and string evaluation in the page, but Playwright sends a function's source with its own call, which CSP exempts.
 */
const inPage = <R>(body: string) => new Function('arg', `return ${body}`) as (arg: unknown) => R | Promise<R>

/** Evaluates `fn(window.weftDemo)` in the page. */
export const hook = <R>(page: Page, fn: (hook: WeftDemoHook) => R | Promise<R>): Promise<R> =>
  page.evaluate(inPage<R>(`(${fn.toString()})(window.weftDemo)`), null)

/** Waits for status `synced` with nothing pending. */
export const waitSynced = (page: Page): Promise<void> =>
  waitFor(page, (h) => h.status()?.status === 'synced' && h.status()?.pending === 0, null)

/** Appends `text` at the end of the editor, typing through the keyboard. */
export const typeInEditor = async (page: Page, text: string): Promise<void> => {
  const content = page.locator('.cm-content')
  await content.click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text)
}

/** The board's top-left corner on the page. */
const boardOrigin = async (page: Page): Promise<{ x: number; y: number }> => {
  const box = await page.getByTestId('board').boundingBox()
  if (!box) throw new Error('the board is not visible')
  return { x: box.x, y: box.y }
}

/** Creates a shape with `tool` by clicking the board at (x, y) (board coordinates). */
export const addShape = async (
  page: Page,
  tool: 'rect' | 'ellipse' | 'sticky',
  x: number,
  y: number,
): Promise<void> => {
  await page.getByTestId(`tool-${tool}`).click()
  const o = await boardOrigin(page)
  await page.mouse.click(o.x + x, o.y + y)
}

/** Drags from board point `from` to board point `to` with the current tool (moves, resizes, draws, selects). */
export const dragOnBoard = async (
  page: Page,
  from: { x: number; y: number },
  to: { x: number; y: number },
): Promise<void> => {
  const o = await boardOrigin(page)
  await page.mouse.move(o.x + from.x, o.y + from.y)
  await page.mouse.down()
  await page.mouse.move(o.x + to.x, o.y + to.y, { steps: 8 })
  await page.mouse.up()
}

/** Clicks the board at (x, y); with `shift`, adds to / removes from the selection. */
export const clickBoard = async (page: Page, x: number, y: number, shift = false): Promise<void> => {
  const o = await boardOrigin(page)
  if (shift) await page.keyboard.down('Shift')
  await page.mouse.click(o.x + x, o.y + y)
  if (shift) await page.keyboard.up('Shift')
}

/** Turns a settings checkbox (`use-relay`, `use-webrtc`) on or off; the document reopens. */
export const setSetting = async (
  page: Page,
  testId: 'use-relay' | 'use-webrtc',
  on: boolean,
): Promise<void> => {
  await page.getByTestId('settings').click()
  const box = page.getByTestId(testId)
  await box.setChecked(on)
  await page.getByTestId('settings').click()
  await expect(box).toBeHidden()
}

/** Flips the page's online switch. */
export const setOnline = async (page: Page, online: boolean): Promise<void> => {
  await page.getByTestId('online-switch').setChecked(online)
}

/** Closes every context of `users`. */
export const closeAll = async (users: readonly DemoUserPage[]): Promise<void> => {
  await Promise.all(users.map((u) => u.context.close()))
}
