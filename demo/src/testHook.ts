import { type DocInspection } from '@weft/core'
import { countItems, type ItemCounts } from '@weft/core/epochs'
import type { SyncStatus, WeftDoc } from '@weft/providers'
import type { DemoApp } from './app.js'
import type { ShapeKind } from './board/boardSchema.js'
import { inspectStored } from './ui/DocPanel.js'
import type { Collaborator } from './ui/PresenceTracker.js'

/** A shape as the hook reports it (plain data). */
export interface HookShape {
  readonly id: string
  readonly kind: ShapeKind
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
  readonly color: string
  readonly text: string
  readonly points: readonly number[]
  /** Who locked it (their subject; `''`: unlocked) and their name (the demo's rule, board/boardRules.ts). */
  readonly lockedBy: string
  readonly lockedByName: string
}

/**
 * `window.weftDemo`: read-only views of the demo's state for end-to-end tests (Playwright waits on it with
 * `waitForFunction`) and for poking around in the console. It is always installed; apart from `startEpoch` (a
 * history reset, which the page has no button for) it changes nothing by itself (`handle` gives full access to the
 * document, which the page's own code has anyway).
 */
export interface WeftDemoHook {
  /** A document is open and shown. */
  readonly ready: boolean
  readonly docId: string | null
  /** The schema version this page writes (1, or 2 with `?schema=2`). */
  readonly schemaVersion: number
  readonly online: boolean
  readonly handle: WeftDoc | null
  getText(): string
  /** The text as it was loaded from IndexedDB, before any network sync. */
  localText(): string | null
  shapes(): HookShape[]
  selection(): string[]
  /** The whiteboard's notice (a write refused under the rules, e.g. "Locked by Ada: not allowed"), or `null`. */
  notice(): string | null
  status(): { readonly status: SyncStatus; readonly pending: number } | null
  paths(): Array<{ readonly kind: string; readonly synced: boolean }>
  presence(): Collaborator[]
  /** The typed document's status: `ready`, `upgrade-required`, ... */
  schemaStatus(): string | null
  documentVersion(): number | null
  /** The locally stored copy, inspected (what the document panel shows). */
  inspect(): Promise<DocInspection | null>
  /** Resolves when every local change is in IndexedDB. */
  flushed(): Promise<void>
  /** The open document's epoch id (`"0"` before its first history reset; docs/guides/compaction.md). */
  epoch(): string | null
  /** The epoch the open document was loaded in from IndexedDB, before any network sync. */
  localEpoch(): string | null
  /** Documents opened since the page loaded (the page reopens the document after each epoch change). */
  readonly opens: number
  /** Live and deleted items of the open document in memory (what a history reset sheds). */
  itemCounts(): ItemCounts | null
  /**
   * Starts a history reset (an epoch) on the open document, as its epoch authority would; resolves with the new
   * epoch's id once the switch is durable. The page then reopens the document (`epoch-changed`).
   */
  startEpoch(): Promise<string>
}

/** Installs `window.weftDemo`. */
export const installTestHook = (app: DemoApp): WeftDemoHook => {
  const cur = () => app.current
  const hook: WeftDemoHook = {
    get ready() {
      return cur() !== null
    },
    get docId() {
      return cur()?.session.id ?? null
    },
    schemaVersion: app.version,
    get online() {
      return app.online
    },
    get handle() {
      return cur()?.session.handle ?? null
    },
    getText: () => cur()?.session.body.toString() ?? '',
    localText: () => cur()?.session.localText ?? null,
    shapes: () =>
      (cur()?.session.board.shapes() ?? [])
        .map((s) => ({ ...s, text: s.text.toString(), points: [...s.points] }))
        .sort((a, b) => a.y - b.y || a.x - b.x || a.id.localeCompare(b.id)),
    selection: () => cur()?.view.board.selection ?? [],
    notice: () => cur()?.view.board.notice ?? null,
    status: () => {
      const handle = cur()?.session.handle
      return handle ? { status: handle.status, pending: handle.pendingChanges } : null
    },
    paths: () => (cur()?.session.handle.paths ?? []).map((p) => ({ kind: p.kind, synced: p.synced })),
    presence: () => cur()?.presence.list() ?? [],
    schemaStatus: () => cur()?.session.typed.status ?? null,
    documentVersion: () => cur()?.session.typed.documentVersion ?? null,
    inspect: async () => {
      const c = cur()
      return c ? inspectStored(app.store, c.session.handle) : null
    },
    flushed: async () => {
      await cur()?.session.handle.persistence?.flushed()
    },
    epoch: () => cur()?.session.handle.session.epoch ?? null,
    localEpoch: () => cur()?.session.localEpoch ?? null,
    get opens() {
      return app.opens
    },
    itemCounts: () => {
      const handle = cur()?.session.handle
      return handle ? countItems(handle.doc) : null
    },
    startEpoch: async () => {
      const epochs = cur()?.session.handle.epochs
      if (!epochs) throw new Error('no open document that follows epochs')
      return (await epochs.start()).id
    },
  }
  ;(window as unknown as { weftDemo: WeftDemoHook }).weftDemo = hook
  return hook
}
