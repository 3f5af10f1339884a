import type { DocId } from '../ids.js'
import type { DocStore } from './DocStore.js'
import { EPOCH_META_KEY } from './epochMeta.js'
import { INITIAL_EPOCH } from './epochRecord.js'

/**
 * Workspaces in a store (issue 15; docs/spec/storage.md, `WS-STORE-*`). Document `D` of workspace `W` is stored,
 * and relayed, under the id `W/D`: the part before the first `/` names the workspace, the rest (which may contain
 * more `/`) is the document. An id without `/` belongs to no workspace. {@link workspaceOf} and
 * {@link splitWorkspaceDoc} apply that rule; {@link workspaceDocId} builds an id from its two parts.
 */

/** Longest workspace id, in UTF-8 bytes. */
export const MAX_WORKSPACE_ID_BYTES = 128
/** Longest document id inside a workspace (the `D` of `W/D`), in UTF-8 bytes. */
export const MAX_WORKSPACE_DOC_BYTES = 256
/** The reserved document of a workspace that holds its catalogue (`W/.catalogue`). */
export const CATALOGUE_DOC = '.catalogue'

/** One document of a workspace and the change sequence of its last stored change. */
export interface WorkspaceChange {
  /** The document id inside the workspace (`D`, not `W/D`). */
  readonly doc: string
  /** The workspace change sequence of the document's last append, epoch switch or removal. */
  readonly seq: number
}

/** One page of {@link WorkspaceIndex.changesSince}. */
export interface WorkspaceChanges {
  /** Documents whose last change has a seq above the cursor, in seq order. */
  readonly changes: readonly WorkspaceChange[]
  /**
   * Every change with seq `<= through` is in this page or an earlier one: a client may store `through` as its cursor
   * once it has handled this page. On the last page it is the workspace's sequence as read with the page, so it equals
   * the cursor when nothing changed, and is below it for a cursor from the future (a cursor of another store or
   * workspace: the caller's to refuse).
   */
  readonly through: number
  /** `true` when another page follows (ask again with `through` as the cursor). */
  readonly more: boolean
}

/** A workspace as {@link WorkspaceIndex.workspaces} lists it. */
export interface WorkspaceSummary {
  /** The workspace id `W`. */
  readonly id: string
  /** How many documents of the workspace the store holds (removed documents not counted). */
  readonly documents: number
  /** The workspace's change sequence now. */
  readonly seq: number
  /** Bytes stored for its documents (snapshots and updates, as the `byteLength` of {@link DocStore.load} counts them). */
  readonly bytes: number
}

/**
 * The optional workspace index of a {@link DocStore} (`WS-STORE-*`). Each workspace has a change sequence 1, 2, 3, ...
 * without gaps: every durable append, epoch switch (a compaction that changes the epoch; a log compaction is no change,
 * {@link compactionIsChange}) and removal of a document `W/D` advances W's sequence by one in the same transaction, and
 * the document keeps the seq of its last change. A removed document keeps a tombstone, so
 * {@link WorkspaceIndex.changesSince} reports its removal (its id with the removal's seq; loading it gives `null`).
 * Metadata-only writes (`setMeta`), refused appends, log compactions and stale compactions do not advance it. Appends
 * committed in one transaction (group commit) advance it once per document: a document appended to several times in one
 * commit gets one seq, so `changesSince` still names every changed document with its last change. A document with only
 * metadata is not indexed. Check for the index with {@link isWorkspaceIndexed}.
 */
export interface WorkspaceIndex {
  /** The workspace's change sequence now (0 when nothing was stored). */
  workspaceSeq(workspace: string): Promise<number>
  /**
   * Documents whose last change has seq > cursor, in seq order, at most `limit` (at least one is returned when any
   * exists, whatever `limit`). A document changed several times since the cursor appears once, with its last seq.
   */
  changesSince(workspace: string, cursor: number, limit: number): Promise<WorkspaceChanges>
  /** Every workspace with its document count, change sequence and stored bytes, ordered by id. */
  workspaces(): Promise<WorkspaceSummary[]>
}

/** Whether `store` keeps the workspace index (`WS-STORE-*`). */
export const isWorkspaceIndexed = (store: DocStore): store is DocStore & WorkspaceIndex => {
  const candidate = store as Partial<WorkspaceIndex>
  return (
    typeof candidate.workspaceSeq === 'function' &&
    typeof candidate.changesSince === 'function' &&
    typeof candidate.workspaces === 'function'
  )
}

/** The workspace a document or room id belongs to: its part before the first `/`; `null` when it has no `/`. */
export const workspaceOf = (docId: string): string | null => {
  const slash = docId.indexOf('/')
  return slash > 0 ? docId.slice(0, slash) : null
}

/**
 * Splits `W/D` into its workspace and document; `null` for an id that belongs to no workspace (no `/`, or an empty
 * `W` or `D`).
 */
export const splitWorkspaceDoc = (docId: string): { workspace: string; doc: string } | null => {
  const slash = docId.indexOf('/')
  if (slash <= 0 || slash === docId.length - 1) return null
  return { workspace: docId.slice(0, slash), doc: docId.slice(slash + 1) }
}

/**
 * Store-kit: the workspace and document a store indexes `docId` under (`WS-STORE-1.1`): {@link splitWorkspaceDoc},
 * except ids whose document part contains `~`, which no workspace document has: a store's own companions of a
 * document (epoch archives `W/D~epoch~...`, the relay's quarantine `W/D~quarantine~`) are not indexed.
 */
export const indexedWorkspaceDoc = (docId: string): { workspace: string; doc: string } | null => {
  const split = splitWorkspaceDoc(docId)
  return split && !split.doc.includes('~') ? split : null
}

/** The store and room id of document `doc` of workspace `workspace`: `W/D`. */
export const workspaceDocId = (workspace: string, doc: string): DocId => `${workspace}/${doc}` as DocId

const utf8Length = (value: string): number => new TextEncoder().encode(value).length

/** Whether `id` is a valid workspace id: non-empty, no `/`, at most {@link MAX_WORKSPACE_ID_BYTES} UTF-8 bytes. */
export const isWorkspaceId = (id: string): boolean =>
  id.length > 0 && !id.includes('/') && utf8Length(id) <= MAX_WORKSPACE_ID_BYTES

/**
 * Whether `doc` is a valid id for an app's document inside a workspace: non-empty, no leading `.` (reserved, e.g.
 * {@link CATALOGUE_DOC}), no `~`, at most {@link MAX_WORKSPACE_DOC_BYTES} UTF-8 bytes.
 */
export const isWorkspaceDocId = (doc: string): boolean =>
  doc.length > 0 && !doc.startsWith('.') && !doc.includes('~') && utf8Length(doc) <= MAX_WORKSPACE_DOC_BYTES

/**
 * Store-kit (WS-STORE-2.1): whether a successful compaction is a change of its document's workspace, to advance the
 * sequence in the same transaction. A log compaction changes no content (the same state, stored as a snapshot), so
 * it is no change: a client would see the document as changed and sync it for nothing. It is one when it switches the
 * document's epoch (its `meta` sets `epoch` to a value other than the stored one: clients must learn the new epoch),
 * or when the document held no content before (no snapshot and no update: the compaction creates it). `storedEpoch`
 * (the stored meta `epoch`, absent = `"0"`) is called only when `meta` sets `epoch`.
 */
export const compactionIsChange = (
  meta: Readonly<Record<string, string | null>> | undefined,
  storedEpoch: () => string,
  hadContent: boolean,
): boolean => {
  if (!hadContent) return true
  if (meta === undefined || !Object.hasOwn(meta, EPOCH_META_KEY)) return false
  return (meta[EPOCH_META_KEY] ?? INITIAL_EPOCH) !== storedEpoch()
}

/**
 * Store-kit: the documents one store transaction changed, grouped by workspace, each workspace's documents distinct
 * and in order of first change. A store advances each workspace's sequence by its number of documents and gives
 * them the seqs that follow, in this order (one seq per document per transaction, `WS-STORE-2.3`). Ids that are
 * not indexed ({@link indexedWorkspaceDoc}) are left out.
 */
export const workspaceChangesOf = (docIds: Iterable<string>): Map<string, string[]> => {
  const out = new Map<string, string[]>()
  const seen = new Set<string>()
  for (const id of docIds) {
    if (seen.has(id)) continue
    seen.add(id)
    const split = indexedWorkspaceDoc(id)
    if (!split) continue
    const docs = out.get(split.workspace)
    if (docs) docs.push(split.doc)
    else out.set(split.workspace, [split.doc])
  }
  return out
}

/** Largest page a store returns (`pageSize(limit) + 1` rows stay within IndexedDB's 32-bit `getAll` count). */
const MAX_PAGE = 2 ** 31 - 2

/**
 * Store-kit: the page size a store uses for `limit`: an integer from 1 to 2^31 - 2 (NaN counts as 1). Query
 * `pageSize(limit) + 1` rows.
 */
export const pageSize = (limit: number): number =>
  Number.isNaN(limit) ? 1 : Math.min(MAX_PAGE, Math.max(1, Math.floor(limit)))

/**
 * Store-kit: one page of {@link WorkspaceIndex.changesSince} from the rows a store read (seq order, at most
 * `pageSize(limit) + 1` of them) and the workspace's sequence read in the same snapshot. Written once for every store.
 */
export const changesPage = (
  rows: readonly WorkspaceChange[],
  limit: number,
  workspaceSeq: number,
): WorkspaceChanges => {
  const size = pageSize(limit)
  if (rows.length <= size) return { changes: rows, through: workspaceSeq, more: false }
  const changes = rows.slice(0, size)
  return { changes, through: changes[changes.length - 1]?.seq ?? workspaceSeq, more: true }
}
