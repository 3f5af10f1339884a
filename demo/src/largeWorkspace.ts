import type { SyncStatus, WeftDoc, Workspace } from '@weft/providers'
import { demoSchemaV1 } from './board/boardSchema.js'
import { openTyped } from './schemaApi.js'

/** Progress of {@link createLargeWorkspace}: documents written so far of `total`. */
export interface LargeWorkspaceProgress {
  readonly done: number
  readonly total: number
}

/** Options of {@link createLargeWorkspace}. */
export interface LargeWorkspaceOptions {
  /** How many documents (default 2,000). */
  readonly count?: number
  /** Documents written per batch, between two yields to the event loop (default 25). */
  readonly batch?: number
  /** Called after each batch. */
  readonly onProgress?: (progress: LargeWorkspaceProgress) => void
  /** Stops after the current batch. */
  readonly signal?: AbortSignal
}

/**
 * Resolves once the relay stored `handle`'s changes, or at once when the workspace is not connected (then, or if it
 * disconnects meanwhile, the workspace pushes them in the background after the close, WS-CLIENT-6.3). Closing a
 * document before its changes are stored costs a second load and sync later; waiting here costs nothing extra.
 */
const savedWhileOnline = (workspace: Workspace, handle: WeftDoc): Promise<void> => {
  const online = (status: SyncStatus) => status === 'syncing' || status === 'synced'
  if (!online(workspace.status)) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const onStatus = ({ status }: { status: SyncStatus }) => {
      if (!online(status)) done()
    }
    const done = () => {
      workspace.off('status', onStatus)
      resolve()
    }
    workspace.on('status', onStatus)
    handle.whenSaved().then(done, done)
  })
}

/** Lets the page paint and handle input between two batches. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

const pad = (n: number, width: number): string => String(n).padStart(width, '0')

/**
 * Fills the workspace with `count` small documents (a title in the catalogue and the document, a line of text), in
 * batches: the batch's catalogue records in one transaction, each document opened, written, kept open until the relay stored it
 * (when online) and closed, so it leaves no `Y.Doc` behind; then a yield so the page stays responsive.
 * Ids are `bulk-<run>-<n>`, with `run` random, so two runs (or two users) never collide. Resolves with the ids.
 */
export const createLargeWorkspace = async (
  workspace: Workspace,
  { count = 2000, batch = 25, onProgress, signal }: LargeWorkspaceOptions = {},
): Promise<string[]> => {
  const run = Math.random().toString(36).slice(2, 6)
  const width = String(count).length
  const ids: string[] = []
  for (let start = 0; start < count && !signal?.aborted; start += batch) {
    const items: Array<{ id: string; title: string }> = []
    for (let n = start + 1; n <= Math.min(count, start + batch); n++)
      items.push({ id: `bulk-${run}-${pad(n, width)}`, title: `Note ${pad(n, width)} (${run})` })
    // The batch's records in one catalogue transaction, written as `workspace.create` writes them. Not through
    // `create` itself: each call recomputes the preload set over every record (O(n) per document, O(n²) for the run).
    const now = Date.now()
    workspace.catalogue.doc.transact(() => {
      for (const { id, title } of items) {
        const res = workspace.typed.root.documents.insert(
          { title, createdAt: now, updatedAt: now, size: 0, deleted: false, deletedAt: 0 },
          { id },
        )
        if (!res.ok) throw new Error(`creating ${id}: ${res.message}`)
      }
    })
    await Promise.all(
      items.map(async ({ id, title }) => {
        const handle = await workspace.open(id)
        const typed = openTyped(handle.doc, demoSchemaV1)
        handle.doc.transact(() => {
          typed.root.meta.set('title', title)
          typed.root.body.insert(0, `${title}: one of ${count} small documents.\n`)
        })
        typed.destroy()
        await savedWhileOnline(workspace, handle)
        await workspace.close(id)
      }),
    )
    ids.push(...items.map((i) => i.id))
    onProgress?.({ done: ids.length, total: count })
    await yieldToEventLoop()
  }
  return ids
}
