import {
  workspaceDocId,
  type WorkspaceChange,
  type WorkspaceChanges,
  type WorkspaceSummary,
} from '@weft/core'
import { changesPage, indexedWorkspaceDoc, pageSize, workspaceChangesOf } from '@weft/core/store-kit'
import { requestResult, SNAPSHOTS, transactionDone, UPDATES, WORKSPACE_DOCS, WORKSPACES } from './idb.js'
import { docRange, isSnapshotRow } from './readRows.js'

/**
 * The workspace index of {@link IndexedDbDocStore} (`WS-STORE-*`): `workspaces` (key `W`: its change sequence) and
 * `workspaceDocs` (key `[W, D]`: {@link WorkspaceDocRow}, index `seq` on `[workspace, seq]`), written inside the
 * store's own readwrite transactions, which IndexedDB serializes (also across tabs), so the sequence is gap-free.
 */

/** A row of `workspaceDocs`. */
export interface WorkspaceDocRow {
  readonly workspace: string
  readonly doc: string
  /** The workspace change sequence of the document's last change. */
  readonly seq: number
  /** A tombstone (WS-STORE-4.1). */
  readonly removed: boolean
}

/** The object stores a write transaction over `docIds` must add to its scope (none when no id is indexed). */
export const workspaceScope = (docIds: Iterable<string>): string[] =>
  workspaceChangesOf(docIds).size > 0 ? [WORKSPACES, WORKSPACE_DOCS] : []

/**
 * WS-STORE-2.1, 2.3: advances the workspace of each of `docIds` by one per document, in `tx` (which must cover
 * {@link workspaceScope}); `removed` for removals.
 */
export const advanceWorkspaces = (tx: IDBTransaction, docIds: Iterable<string>, removed = false): void => {
  for (const [workspace, docs] of workspaceChangesOf(docIds)) {
    const counter = tx.objectStore(WORKSPACES).get(workspace)
    counter.onsuccess = () => {
      const before = typeof counter.result === 'number' ? counter.result : 0
      const last = before + docs.length
      tx.objectStore(WORKSPACES).put(last, workspace)
      docs.forEach((doc, i) => {
        const row: WorkspaceDocRow = { workspace, doc, seq: before + 1 + i, removed }
        tx.objectStore(WORKSPACE_DOCS).put(row)
      })
    }
  }
}

/** WS-STORE-4.1: `docId` is removed in `tx`: a tombstone (and a seq) when it is indexed and live. */
export const removeFromWorkspace = (tx: IDBTransaction, docId: string): void => {
  const split = indexedWorkspaceDoc(docId)
  if (!split) return
  const row = tx.objectStore(WORKSPACE_DOCS).get([split.workspace, split.doc])
  row.onsuccess = () => {
    if ((row.result as WorkspaceDocRow | undefined)?.removed === false) advanceWorkspaces(tx, [docId], true)
  }
}

/**
 * WS-STORE-5.1: creates the index's object stores in the upgrade transaction of a database of version 2 or less,
 * and indexes every document with content (1..k per workspace, in id order).
 */
export const createWorkspaceIndex = (db: IDBDatabase, tx: IDBTransaction): void => {
  db.createObjectStore(WORKSPACES)
  db.createObjectStore(WORKSPACE_DOCS, { keyPath: ['workspace', 'doc'] }).createIndex(
    'seq',
    ['workspace', 'seq'],
    { unique: true },
  )
  const ids = new Set<string>()
  let pending = 2
  const done = (): void => {
    if (--pending === 0) advanceWorkspaces(tx, [...ids].sort())
  }
  const snapshots = tx.objectStore(SNAPSHOTS).getAllKeys()
  snapshots.onsuccess = () => {
    for (const key of snapshots.result) if (typeof key === 'string') ids.add(key)
    done()
  }
  // One key per document: jump past [doc, *].
  const cursor = tx.objectStore(UPDATES).openKeyCursor()
  cursor.onsuccess = () => {
    const c = cursor.result
    const doc: unknown = c && Array.isArray(c.key) ? c.key[0] : undefined
    if (!c) return done()
    if (typeof doc !== 'string') return c.continue()
    ids.add(doc)
    c.continue([doc, []])
  }
}

const seqOf = (value: unknown): number => (typeof value === 'number' ? value : 0)

export const readWorkspaceSeq = async (db: IDBDatabase, workspace: string): Promise<number> => {
  const tx = db.transaction([WORKSPACES], 'readonly')
  return seqOf(await requestResult(tx.objectStore(WORKSPACES).get(workspace)))
}

/** One readonly transaction: the page and the sequence from the same snapshot (WS-STORE-3.2). */
export const readChangesSince = async (
  db: IDBDatabase,
  workspace: string,
  cursor: number,
  limit: number,
): Promise<WorkspaceChanges> => {
  const tx = db.transaction([WORKSPACES, WORKSPACE_DOCS], 'readonly')
  const range = IDBKeyRange.bound([workspace, cursor], [workspace, Infinity], true, false)
  const [rows, seq] = await Promise.all([
    requestResult(
      tx
        .objectStore(WORKSPACE_DOCS)
        .index('seq')
        .getAll(range, pageSize(limit) + 1),
    ),
    requestResult(tx.objectStore(WORKSPACES).get(workspace)),
  ])
  const changes: WorkspaceChange[] = (rows as WorkspaceDocRow[]).map((r) => ({ doc: r.doc, seq: r.seq }))
  return changesPage(changes, limit, seqOf(seq))
}

/** Every workspace with its live documents and their stored bytes (reads every indexed document's rows). */
export const readWorkspaces = async (db: IDBDatabase): Promise<WorkspaceSummary[]> => {
  const tx = db.transaction([WORKSPACES, WORKSPACE_DOCS, SNAPSHOTS, UPDATES], 'readonly')
  const summaries = new Map<string, { id: string; documents: number; seq: number; bytes: number }>()
  const counters = tx.objectStore(WORKSPACES).openCursor()
  counters.onsuccess = () => {
    const c = counters.result
    if (!c) return readDocs()
    if (typeof c.key === 'string')
      summaries.set(c.key, { id: c.key, documents: 0, seq: seqOf(c.value), bytes: 0 })
    c.continue()
  }
  // Requests issued from the callbacks of this transaction's requests, so it stays active until all are done.
  const readDocs = (): void => {
    const rows = tx.objectStore(WORKSPACE_DOCS).getAll()
    rows.onsuccess = () => {
      for (const row of rows.result as WorkspaceDocRow[]) {
        const summary = summaries.get(row.workspace)
        if (!summary || row.removed) continue
        summary.documents++
        const id = workspaceDocId(row.workspace, row.doc)
        const snap = tx.objectStore(SNAPSHOTS).get(id)
        snap.onsuccess = () => {
          summary.bytes += isSnapshotRow(snap.result) ? snap.result.data.byteLength : 0
        }
        const updates = tx.objectStore(UPDATES).getAll(docRange(id))
        updates.onsuccess = () => {
          for (const u of updates.result) if (u instanceof Uint8Array) summary.bytes += u.byteLength
        }
      }
    }
  }
  await transactionDone(tx)
  return [...summaries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
