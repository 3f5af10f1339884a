import type pg from 'pg'
import {
  WeftError,
  WeftErrorCode,
  type WorkspaceChange,
  type WorkspaceChanges,
  type WorkspaceSummary,
} from '@weft/core'
import { changesPage, indexedWorkspaceDoc, pageSize, workspaceChangesOf } from '@weft/core/store-kit'

/**
 * The workspace index of {@link PostgresDocStore} (`WS-STORE-*`, docs/spec/storage.md), as functions over a client
 * inside the store's transactions. Each workspace's counter row (`weft_workspaces`) is bumped with
 * `INSERT ... ON CONFLICT DO UPDATE SET seq = seq + k RETURNING seq` in the statement (an append batch) or the
 * transaction (a compaction, a removal) that writes the change: the row lock it takes is held until commit, so
 * concurrent writers of one workspace (several relay nodes) get consecutive seqs and commit in seq order
 * (`WS-STORE-2.4`). Every write locks its documents' counter rows (`weft_docs`) before its workspaces' rows, each
 * set in sorted order, so nodes never deadlock on them.
 * @internal
 */

type Query = Pick<pg.PoolClient, 'query'>

/** The tables of one PostgreSQL schema the index uses. */
export interface WorkspaceTables {
  /** `<schema>.weft_workspaces`: one counter row per workspace. */
  readonly workspaces: string
  /** `<schema>.weft_workspace_docs`: the seq of each indexed document's last change; `removed`: a tombstone. */
  readonly docs: string
  readonly updates: string
  readonly snapshots: string
}

/** A stored bigint (pg returns it as a string). */
const count = (value: unknown): number => {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new WeftError(
      WeftErrorCode.StoreCorrupted,
      'PostgresDocStore: a workspace sequence is not an integer',
    )
  }
  return n
}

/** A bump of workspace sequences, for {@link workspaceBumpSql}: each workspace's count, each document's rank. */
export interface WorkspaceBump {
  /** The statement's parameters, in the order {@link workspaceBumpSql} numbers them. */
  readonly params: readonly unknown[]
}

/**
 * WS-STORE-2.1, 2.3, 4.1: the bump of the workspace of each of `docIds` by one per document (in order of first
 * change), with each document's seq and `removed` for removals; `null` when none of them is in a workspace.
 */
export const workspaceBump = (docIds: Iterable<string>, removed = false): WorkspaceBump | null => {
  const grouped = workspaceChangesOf(docIds)
  if (grouped.size === 0) return null
  const ids = [...grouped.keys()].sort()
  const w: string[] = []
  const d: string[] = []
  const i: number[] = []
  const k: number[] = []
  for (const id of ids) {
    const docs = grouped.get(id) ?? []
    docs.forEach((doc, n) => {
      w.push(id)
      d.push(doc)
      i.push(n + 1)
      k.push(docs.length)
    })
  }
  return { params: [ids, ids.map((id) => grouped.get(id)?.length ?? 0), w, d, i, k, removed] }
}

/**
 * The common table expressions (`ws_bumped`, `ws_docs`) of a {@link workspaceBump}, whose parameters start at
 * `$first`: the counter rows are bumped in id order, so two writers lock them in one order. `after` names a CTE of
 * the same statement whose rows are all produced before the first counter row is locked (the documents' counter
 * rows: documents first, then workspaces, on every path, so nodes never deadlock); PostgreSQL runs the CTEs of one
 * statement in no set order otherwise.
 */
export const workspaceBumpSql = (t: WorkspaceTables, first: number, after?: string): string => {
  const $ = (n: number): string => `$${first + n}`
  const locked = after === undefined ? '' : `CROSS JOIN (SELECT count(*) FROM ${after}) AS locked`
  return `ws_bumped AS (
       INSERT INTO ${t.workspaces} (id, seq)
       SELECT x.id, x.k FROM unnest(${$(0)}::text[], ${$(1)}::bigint[]) AS x(id, k) ${locked} ORDER BY x.id
       ON CONFLICT (id) DO UPDATE SET seq = ${t.workspaces}.seq + excluded.seq
       RETURNING id, seq
     ), ws_docs AS (
       INSERT INTO ${t.docs} (workspace, doc, seq, removed)
       SELECT x.w, x.d, b.seq - x.k + x.i, ${$(6)}::boolean
       FROM unnest(${$(2)}::text[], ${$(3)}::text[], ${$(4)}::bigint[], ${$(5)}::bigint[]) AS x(w, d, i, k)
       JOIN ws_bumped b ON b.id = x.w
       ON CONFLICT (workspace, doc) DO UPDATE SET seq = excluded.seq, removed = excluded.removed
       RETURNING 1
     )`
}

/**
 * WS-STORE-2.1, 2.3, 4.1: advances the workspace of each of `docIds` by one per document (in order of first
 * change) and records each document's seq, with `removed` for removals. Call inside the change's transaction,
 * after its documents' counter rows are locked.
 */
export const advanceWorkspaces = async (
  c: Query,
  t: WorkspaceTables,
  docIds: Iterable<string>,
  removed = false,
): Promise<void> => {
  const bump = workspaceBump(docIds, removed)
  if (!bump) return
  await c.query(`WITH ${workspaceBumpSql(t, 1)} SELECT count(*) FROM ws_docs`, [...bump.params])
}

/** WS-STORE-4.1: `docId` was removed in this transaction: a tombstone (and a seq) when it was indexed and live. */
export const removeFromWorkspace = async (c: Query, t: WorkspaceTables, docId: string): Promise<void> => {
  const split = indexedWorkspaceDoc(docId)
  if (!split) return
  const live = await c.query(`SELECT 1 FROM ${t.docs} WHERE workspace = $1 AND doc = $2 AND NOT removed`, [
    split.workspace,
    split.doc,
  ])
  if (live.rowCount) await advanceWorkspaces(c, t, [docId], true)
}

/** WS-STORE-5.1: indexes the documents of a store written before the index existed (under the schema lock). */
export const indexExisting = async (c: Query, t: WorkspaceTables, docsTable: string): Promise<void> => {
  const res = await c.query(`SELECT doc FROM ${docsTable}`)
  const ids = (res.rows as Array<{ doc: string }>).map((r) => r.doc).sort()
  await advanceWorkspaces(c, t, ids)
}

export const workspaceSeq = async (c: Query, t: WorkspaceTables, workspace: string): Promise<number> => {
  const res = await c.query(`SELECT seq FROM ${t.workspaces} WHERE id = $1`, [workspace])
  const row = res.rows[0] as { seq: unknown } | undefined
  return row ? count(row.seq) : 0
}

/** Call inside one REPEATABLE READ transaction: the page and the sequence from one snapshot (WS-STORE-3.2). */
export const changesSince = async (
  c: Query,
  t: WorkspaceTables,
  workspace: string,
  cursor: number,
  limit: number,
): Promise<WorkspaceChanges> => {
  const res = await c.query(
    `SELECT doc, seq FROM ${t.docs} WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [workspace, cursor, pageSize(limit) + 1],
  )
  const rows: WorkspaceChange[] = (res.rows as Array<{ doc: string; seq: unknown }>).map((r) => ({
    doc: r.doc,
    seq: count(r.seq),
  }))
  return changesPage(rows, limit, await workspaceSeq(c, t, workspace))
}

const bytesOf = (t: WorkspaceTables, table: string): string =>
  `(SELECT coalesce(sum(octet_length(x.data)), 0) FROM ${t.docs} d JOIN ${table} x ON x.doc = d.workspace || '/' || d.doc WHERE d.workspace = w.id AND NOT d.removed)`

export const workspaces = async (c: Query, t: WorkspaceTables): Promise<WorkspaceSummary[]> => {
  const res = await c.query(
    `SELECT w.id, w.seq,
       (SELECT count(*) FROM ${t.docs} d WHERE d.workspace = w.id AND NOT d.removed) AS documents,
       ${bytesOf(t, t.updates)} + ${bytesOf(t, t.snapshots)} AS bytes
     FROM ${t.workspaces} w ORDER BY w.id COLLATE "C"`,
  )
  return (res.rows as Array<{ id: string; seq: unknown; documents: unknown; bytes: unknown }>).map((r) => ({
    id: r.id,
    documents: count(r.documents),
    seq: count(r.seq),
    bytes: count(r.bytes),
  }))
}
