import type { SyncStatus, WorkspaceProgress } from '@weft/providers'
import type { DemoApp } from './app.js'

/** A document of the list as the hook reports it (plain data). */
export interface HookEntry {
  readonly id: string
  readonly title: string
  /** Stored on this device. */
  readonly local: boolean
  readonly open: boolean
}

/**
 * `window.weftWorkspace`: read-only views of the demo's workspace (the document list) for end-to-end tests and the
 * console, beside `window.weftDemo` (the open document). Playwright waits on it with `waitForFunction`.
 */
export interface WeftWorkspaceHook {
  /** The workspace is open (its catalogue loaded from IndexedDB). */
  readonly ready: boolean
  /** The documents of the list (not deleted), newest first. */
  entries(): HookEntry[]
  /** Ids of the deleted documents whose tombstone is known here. */
  deleted(): string[]
  /** How many documents the list holds. */
  count(): number
  /** How many rows of the list are in the DOM (the list renders only what is visible). */
  renderedRows(): number
  /** Documents holding a `Y.Doc` now (open, or synced briefly in the background); the catalogue is not counted. */
  loaded(): string[]
  status(): { readonly status: SyncStatus; readonly pending: number } | null
  progress(): WorkspaceProgress | null
  /** Resolves with true once a reload works offline (the service worker stored the page). */
  offlineReady(): Promise<boolean>
  /** "Large workspace": documents created so far of how many, and whether it still runs. */
  large(): { readonly done: number; readonly total: number; readonly running: boolean } | null
}

/** Installs `window.weftWorkspace`. */
export const installWorkspaceHook = (app: DemoApp): WeftWorkspaceHook => {
  const ws = () => app.workspace?.workspace ?? null
  const hook: WeftWorkspaceHook = {
    get ready() {
      return ws() !== null
    },
    entries: () =>
      (ws()?.list.entries ?? []).map((e) => ({ id: e.id, title: e.title, local: e.local, open: e.open })),
    deleted: () => (ws()?.list.deleted ?? []).map((e) => e.id),
    count: () => ws()?.list.entries.length ?? 0,
    renderedRows: () => app.docs.renderedRows,
    loaded: () => [...(ws()?.loaded ?? [])],
    status: () => {
      const w = ws()
      return w ? { status: w.status, pending: w.pendingChanges } : null
    },
    progress: () => ws()?.progress ?? null,
    offlineReady: () => app.offlineReady,
    large: () => app.largeProgress,
  }
  ;(window as unknown as { weftWorkspace: WeftWorkspaceHook }).weftWorkspace = hook
  return hook
}
