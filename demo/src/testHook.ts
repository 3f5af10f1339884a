import type { DocInspection } from '@weft/core'
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
}

/**
 * `window.weftDemo`: read-only views of the demo's state for end-to-end tests (Playwright waits on it with
 * `waitForFunction`) and for poking around in the console. It is always installed; it changes nothing by itself
 * (`handle` gives full access to the document, which the page's own code has anyway).
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
  }
  ;(window as unknown as { weftDemo: WeftDemoHook }).weftDemo = hook
  return hook
}
