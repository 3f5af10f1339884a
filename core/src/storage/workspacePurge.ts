import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { applyStoredDoc } from './applyStoredDoc.js'
import type { DocStore } from './DocStore.js'
import { CATALOGUE_DOC, isWorkspaceDocId, workspaceDocId } from './WorkspaceIndex.js'

/**
 * How long a deleted workspace document's data is kept before every replica purges it, when nothing else is said:
 * 30 days (docs/spec/workspaces.md, WS-PURGE-1). The client's `openWorkspace({ retention })` and the relay's
 * `workspaceRetention` default to it.
 */
export const DEFAULT_WORKSPACE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000

/** The root collection of a workspace's catalogue document (`W/.catalogue`): one record (a `Y.Map`) per document. */
export const CATALOGUE_COLLECTION = 'documents'

/** A document a workspace's catalogue marks deleted (WS-CLIENT-2.1). */
export interface WorkspaceTombstone {
  /** The document id inside the workspace (`D`). */
  readonly doc: string
  /** When it was deleted (ms since the epoch, the deleting replica's clock); 0 when the record holds no number. */
  readonly deletedAt: number
}

/**
 * The tombstones of a catalogue document (WS-PURGE-2): every record of {@link CATALOGUE_COLLECTION} whose `deleted`
 * field is `true`, with its `deletedAt` read as the catalogue's schema reads it (a field that is not a finite number
 * reads as its default, 0). Records under an id that is not a workspace document id are skipped. Never throws on
 * what a peer wrote.
 */
export const catalogueTombstones = (catalogue: Y.Doc): WorkspaceTombstone[] => {
  const out: WorkspaceTombstone[] = []
  for (const [doc, record] of catalogue.getMap<unknown>(CATALOGUE_COLLECTION).entries()) {
    if (!(record instanceof Y.Map) || !isWorkspaceDocId(doc)) continue
    if (record.get('deleted') !== true) continue
    const at: unknown = record.get('deletedAt')
    out.push({ doc, deletedAt: typeof at === 'number' && Number.isFinite(at) ? at : 0 })
  }
  return out
}

/**
 * The prefix of the store meta entries of a catalogue (`W/.catalogue`) in which the relay records when it first saw
 * each tombstone (WS-PURGE-1): `purge-seen:<D>` holds that time in ms on the relay's clock, as a decimal string. The
 * relay's retention counts from it, never from the `deletedAt` a client wrote.
 */
export const PURGE_SEEN_META_PREFIX = 'purge-seen:'

/** The catalogue meta key recording when the relay first saw document `doc`'s tombstone: `purge-seen:<doc>`. */
export const purgeSeenMetaKey = (doc: string): string => `${PURGE_SEEN_META_PREFIX}${doc}`

/** A workspace's catalogue as the relay's purge reads it from a store ({@link loadCataloguePurgeState}). */
export interface CataloguePurgeState {
  /** The catalogue's tombstones (WS-PURGE-2). */
  readonly tombstones: readonly WorkspaceTombstone[]
  /**
   * Document -> when the relay first saw its tombstone (ms), from the catalogue's `purge-seen:<D>` meta entries;
   * entries that do not hold a finite number are left out. May name documents that are no longer deleted.
   */
  readonly seen: ReadonlyMap<string, number>
}

/**
 * The tombstones of workspace `workspace` as `store` holds its catalogue (`W/.catalogue`), with the relay's first
 * sightings of them (its `purge-seen:<D>` meta entries): loaded into a scratch `Y.Doc` that is destroyed again.
 * Empty when the store holds no catalogue. Rejects as `load` does (and with `store-corrupted` for bytes Yjs cannot
 * decode).
 */
export const loadCataloguePurgeState = async (
  store: DocStore,
  workspace: string,
): Promise<CataloguePurgeState> => {
  const stored = await store.load(workspaceDocId(workspace, CATALOGUE_DOC))
  if (!stored) return { tombstones: [], seen: new Map() }
  const seen = new Map<string, number>()
  for (const [key, value] of Object.entries(stored.meta)) {
    if (!key.startsWith(PURGE_SEEN_META_PREFIX)) continue
    const at = Number(value)
    if (value.trim() !== '' && Number.isFinite(at)) seen.set(key.slice(PURGE_SEEN_META_PREFIX.length), at)
  }
  const doc = new Y.Doc({ gc: false })
  try {
    applyStoredDoc(doc, stored, null)
    return { tombstones: catalogueTombstones(doc), seen }
  } finally {
    doc.destroy()
  }
}

/**
 * The tombstones of workspace `workspace` as `store` holds its catalogue (`W/.catalogue`): loaded into a scratch
 * `Y.Doc` that is destroyed again. An empty list when the store holds no catalogue. Rejects as `load` does (and with
 * `store-corrupted` for bytes Yjs cannot decode).
 */
export const loadCatalogueTombstones = async (
  store: DocStore,
  workspace: string,
): Promise<WorkspaceTombstone[]> => [...(await loadCataloguePurgeState(store, workspace)).tombstones]

/**
 * Whether a tombstone counted from `since` is past `retention` at `now` (WS-PURGE-1): its data is to go. A client
 * counts from the record's `deletedAt`; the relay from when it first saw the tombstone ({@link PURGE_SEEN_META_PREFIX}).
 */
export const isPastRetention = (since: number, retention: number, now: number): boolean =>
  now - since >= retention

/**
 * Every key a store holds for document `doc` of workspace `workspace`, among `ids` (a store's `list()`): `W/D` itself
 * and its companions `W/D~...` (epoch archives, the relay's quarantine), never another document's.
 */
export const workspaceDocKeys = (ids: Iterable<string>, workspace: string, doc: string): DocId[] => {
  const key = workspaceDocId(workspace, doc)
  const out: DocId[] = []
  for (const id of ids) if (id === key || id.startsWith(`${key}~`)) out.push(id as DocId)
  return out
}

/**
 * Purges document `doc` of workspace `workspace` from `store` (WS-PURGE-3): removes (`DocStore.remove`) `W/D` and
 * every companion `W/D~...` that `ids` (the store's `list()`, read now when not given) names. A store with a
 * `WorkspaceIndex` records the removal (a tombstone in its change sequence, WS-STORE). Resolves with the keys removed.
 */
export const purgeWorkspaceDoc = async (
  store: DocStore,
  workspace: string,
  doc: string,
  ids?: Iterable<string>,
): Promise<DocId[]> => {
  const keys = workspaceDocKeys(ids ?? (await store.list()), workspace, doc)
  for (const key of keys) await store.remove(key)
  return keys
}
