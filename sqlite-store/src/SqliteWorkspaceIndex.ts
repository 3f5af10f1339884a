import type Database from 'better-sqlite3'
import { type WorkspaceChange, type WorkspaceChanges, type WorkspaceSummary } from '@weft/core'
import { changesPage, indexedWorkspaceDoc, pageSize, workspaceChangesOf } from '@weft/core/store-kit'

/**
 * The tables of the workspace index (`WS-STORE-*`): one counter row per workspace, one row per indexed document
 * with the seq of its last change (`removed = 1`: a tombstone), unique per workspace.
 */
const WORKSPACE_SCHEMA = `
CREATE TABLE weft_workspaces (id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE weft_workspace_docs (workspace TEXT NOT NULL, doc TEXT NOT NULL, seq INTEGER NOT NULL, removed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (workspace, doc));
CREATE UNIQUE INDEX weft_workspace_docs_seq ON weft_workspace_docs (workspace, seq);
`

/** Bytes of a workspace's live documents: tail and snapshots, joined on the `W/D` id. */
const docBytes = (table: 'weft_updates' | 'weft_snapshots'): string =>
  `(SELECT coalesce(sum(length(t.data)), 0) FROM weft_workspace_docs d JOIN ${table} t ON t.doc = d.workspace || '/' || d.doc WHERE d.workspace = w.id AND d.removed = 0)`

const prepare = (db: Database.Database) => ({
  bump: db.prepare(
    'INSERT INTO weft_workspaces (id, seq) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seq = seq + excluded.seq RETURNING seq',
  ),
  putDoc: db.prepare(
    'INSERT INTO weft_workspace_docs (workspace, doc, seq, removed) VALUES (?, ?, ?, ?) ON CONFLICT (workspace, doc) DO UPDATE SET seq = excluded.seq, removed = excluded.removed',
  ),
  live: db.prepare('SELECT 1 FROM weft_workspace_docs WHERE workspace = ? AND doc = ? AND removed = 0'),
  seq: db.prepare('SELECT seq FROM weft_workspaces WHERE id = ?'),
  changes: db.prepare(
    'SELECT doc, seq FROM weft_workspace_docs WHERE workspace = ? AND seq > ? ORDER BY seq LIMIT ?',
  ),
  summaries: db.prepare(
    `SELECT w.id AS id, w.seq AS seq,
       (SELECT count(*) FROM weft_workspace_docs d WHERE d.workspace = w.id AND d.removed = 0) AS documents,
       ${docBytes('weft_updates')} + ${docBytes('weft_snapshots')} AS bytes
     FROM weft_workspaces w ORDER BY w.id`,
  ),
})

/** One seq per document per transaction, in order of first change (WS-STORE-2.3). */
const advance = (s: ReturnType<typeof prepare>, docIds: Iterable<string>): void => {
  for (const [workspace, docs] of workspaceChangesOf(docIds)) {
    const last = (s.bump.get(workspace, docs.length) as { seq: number }).seq
    docs.forEach((doc, i) => s.putDoc.run(workspace, doc, last - docs.length + 1 + i, 0))
  }
}

/**
 * The workspace index of {@link SqliteDocStore} (`WS-STORE-*`, docs/spec/storage.md). Its write methods run inside
 * the store's write transaction (SQLite has one writer at a time, also across processes sharing the file, so the
 * sequence is gap-free). Opening a file written before the index existed indexes its documents (`WS-STORE-5.1`).
 * @internal
 */
export class SqliteWorkspaceIndex {
  readonly #db: Database.Database
  readonly #s: ReturnType<typeof prepare>

  constructor(db: Database.Database) {
    this.#db = db
    const indexed = (): boolean =>
      db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'weft_workspace_docs'")
        .get() !== undefined
    if (!indexed()) {
      // WS-STORE-5.1: a file written before the index existed: every document with content gets a seq, 1..k per
      // workspace in id order, in one write transaction (checked again inside it: another process may have won).
      db.transaction(() => {
        if (indexed()) return
        db.exec(WORKSPACE_SCHEMA)
        const ids = db
          .prepare('SELECT doc FROM weft_updates UNION SELECT doc FROM weft_snapshots ORDER BY doc')
          .pluck()
          .all() as string[]
        advance(prepare(db), ids)
      }).immediate()
    }
    this.#s = prepare(db)
  }

  /** WS-STORE-2.1, 2.3: the documents one transaction changed (appended to, epoch switched); call inside it. */
  changed(docIds: Iterable<string>): void {
    advance(this.#s, docIds)
  }

  /** WS-STORE-4.1: `docId` was removed; a tombstone if it was indexed. Call inside the removal's transaction. */
  removed(docId: string): void {
    const split = indexedWorkspaceDoc(docId)
    if (!split || !this.#s.live.get(split.workspace, split.doc)) return
    const seq = (this.#s.bump.get(split.workspace, 1) as { seq: number }).seq
    this.#s.putDoc.run(split.workspace, split.doc, seq, 1)
  }

  workspaceSeq(workspace: string): number {
    return (this.#s.seq.get(workspace) as { seq: number } | undefined)?.seq ?? 0
  }

  changesSince(workspace: string, cursor: number, limit: number): WorkspaceChanges {
    // One read transaction: the page and the sequence from the same snapshot (WS-STORE-3.2).
    return this.#db.transaction(() => {
      const rows = this.#s.changes.all(workspace, cursor, pageSize(limit) + 1) as WorkspaceChange[]
      return changesPage(rows, limit, this.workspaceSeq(workspace))
    })()
  }

  workspaces(): WorkspaceSummary[] {
    return this.#s.summaries.all() as WorkspaceSummary[]
  }
}
