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

/**
 * The root map of a catalogue document that holds every deletion ever written (WS-PURGE-10): one entry per deleting
 * writer and document, key `<D>~<writer>` ({@link deletionKey}), value the `deletedAt` that writer wrote (ms). Entries
 * are only ever added: unlike the record's `deleted` and `deletedAt` fields (last writer wins), no concurrent write
 * replaces another writer's entry, so a deletion cannot be undone by a `create` or moved later by a second `delete`.
 */
export const CATALOGUE_DELETIONS = 'deletions'

/** The key of writer `writer`'s deletion entry of document `doc` in {@link CATALOGUE_DELETIONS}: `<doc>~<writer>`. */
export const deletionKey = (doc: string, writer: number): string => `${doc}~${writer}`

/** A document a workspace's catalogue marks deleted (WS-CLIENT-2.1, WS-PURGE-10). */
export interface WorkspaceTombstone {
  /** The document id inside the workspace (`D`). */
  readonly doc: string
  /**
   * When it was deleted (ms since the epoch, the deleting replica's clock): the earliest `deletedAt` any writer wrote
   * (WS-PURGE-10); 0 when one of them holds no finite number.
   */
  readonly deletedAt: number
}

/** A `deletedAt` as the catalogue's schema reads it: a finite number, anything else 0. */
const readAt = (at: unknown): number => (typeof at === 'number' && Number.isFinite(at) ? at : 0)

/** The document of a {@link CATALOGUE_DELETIONS} key (`<D>~<writer>`), or null when it names no document. */
const deletionDoc = (key: string): string | null => {
  const cut = key.indexOf('~')
  if (cut < 0) return null
  const doc = key.slice(0, cut)
  return isWorkspaceDocId(doc) ? doc : null
}

/**
 * The earliest `deletedAt` of each document a catalogue's deletion entries ({@link CATALOGUE_DELETIONS}) name. Kept
 * up to date by {@link apply} with the keys a change touched, so a client reads one document's tombstone in
 * constant time (WS-CLIENT-1.5).
 */
export class CatalogueDeletions {
  /** Document -> writer key -> deletedAt. */
  readonly #byDoc = new Map<string, Map<string, number>>()
  readonly #map: Y.Map<unknown>

  /** Reads every entry of `catalogue`'s {@link CATALOGUE_DELETIONS} map. */
  constructor(catalogue: Y.Doc) {
    this.#map = catalogue.getMap<unknown>(CATALOGUE_DELETIONS)
    this.apply(this.#map.keys())
  }

  /** The map of entries (observe it for changes: a change's `keysChanged` go to {@link apply}). */
  get map(): Y.Map<unknown> {
    return this.#map
  }

  /** Reads the entries `keys` again (added, changed or removed); resolves with the documents they name. */
  apply(keys: Iterable<string>): string[] {
    const docs = new Set<string>()
    for (const key of keys) {
      const doc = deletionDoc(key)
      if (doc === null) continue
      docs.add(doc)
      let writers = this.#byDoc.get(doc)
      if (this.#map.has(key)) {
        if (!writers) this.#byDoc.set(doc, (writers = new Map()))
        writers.set(key, readAt(this.#map.get(key)))
      } else if (writers?.delete(key) && writers.size === 0) this.#byDoc.delete(doc)
    }
    return [...docs]
  }

  /** The earliest `deletedAt` of `doc`'s entries, or undefined when none names it. */
  earliest(doc: string): number | undefined {
    const writers = this.#byDoc.get(doc)
    if (!writers) return undefined
    let min = Infinity
    for (const at of writers.values()) if (at < min) min = at
    return min
  }

  /** The documents some entry names. */
  docs(): IterableIterator<string> {
    return this.#byDoc.keys()
  }
}

/**
 * The tombstone rule (WS-PURGE-10), written once for every replica and the relay: document `doc` is deleted when its
 * record's `deleted` is `true` or any deletion entry names it, whatever a later write of the record says; its
 * `deletedAt` is the earliest of the record's (when it says deleted) and every entry's. `record` is the record's
 * `Y.Map` (or anything else: not a record), `entry` the earliest entry's time ({@link CatalogueDeletions.earliest}).
 * Null when the document is not deleted.
 */
export const tombstoneOf = (
  doc: string,
  record: unknown,
  entry: number | undefined,
): WorkspaceTombstone | null => {
  const marked = record instanceof Y.Map && record.get('deleted') === true
  if (!marked && entry === undefined) return null
  const own = marked ? readAt((record as Y.Map<unknown>).get('deletedAt')) : Infinity
  return { doc, deletedAt: Math.min(own, entry ?? Infinity) }
}

/**
 * Writes a deletion of document `doc` at `at` into `catalogue` (WS-PURGE-10): this writer's entry in
 * {@link CATALOGUE_DELETIONS} (keyed by the document's `clientID`; an earlier entry of its own is kept). The caller
 * writes the record's `deleted` and `deletedAt` in the same transaction, for replicas that read the record only.
 */
export const writeDeletion = (catalogue: Y.Doc, doc: string, at: number): void => {
  const map = catalogue.getMap<unknown>(CATALOGUE_DELETIONS)
  const key = deletionKey(doc, catalogue.clientID)
  const before = map.get(key)
  if (typeof before === 'number' && Number.isFinite(before) && before <= at) return
  map.set(key, at)
}

/**
 * The tombstones of a catalogue document (WS-PURGE-2, WS-PURGE-10): every document {@link tombstoneOf} says is
 * deleted, from the records of {@link CATALOGUE_COLLECTION} and the entries of {@link CATALOGUE_DELETIONS}, with the
 * earliest `deletedAt` (a value that is not a finite number reads as 0, as the catalogue's schema reads it). Ids that
 * are not workspace document ids are skipped. Never throws on what a peer wrote.
 */
export const catalogueTombstones = (catalogue: Y.Doc): WorkspaceTombstone[] => {
  const records = catalogue.getMap<unknown>(CATALOGUE_COLLECTION)
  const deletions = new CatalogueDeletions(catalogue)
  const out: WorkspaceTombstone[] = []
  const docs = new Set<string>(deletions.docs())
  for (const doc of records.keys()) if (isWorkspaceDocId(doc)) docs.add(doc)
  for (const doc of docs) {
    const t = tombstoneOf(doc, records.get(doc), deletions.earliest(doc))
    if (t) out.push(t)
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
  const seen = readSightings(stored.meta)
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
 * Whether a tombstone is past `retention` at `now` (WS-PURGE-1, WS-PURGE-11): its data is to go. `firstSeen` is when
 * this replica (a client or the relay) first saw the tombstone, on its own clock ({@link TombstoneSightings}), never
 * the `deletedAt` a catalogue writer wrote. The rule is `now - max(deletedAt, firstSeen) >= retention` with
 * `deletedAt` clamped to `firstSeen` (no tombstone was written after a replica saw it: a later `deletedAt` is a
 * writer's clock running ahead, and counting from it would let a `deletedAt` of year 3000 postpone the purge for
 * ever), which is `now - firstSeen >= retention`: a `deletedAt` of 1 (a 1970 clock, or forged) purges nothing sooner.
 */
export const isPastRetention = (firstSeen: number, retention: number, now: number): boolean =>
  now - firstSeen >= retention

/** The first sightings recorded in a store key's meta (`purge-seen:<D>` entries holding a finite number). */
const readSightings = (meta: Readonly<Record<string, string>>): Map<string, number> => {
  const seen = new Map<string, number>()
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith(PURGE_SEEN_META_PREFIX)) continue
    const at = Number(value)
    if (value.trim() !== '' && Number.isFinite(at)) seen.set(key.slice(PURGE_SEEN_META_PREFIX.length), at)
  }
  return seen
}

/**
 * The store key under which a client replica of workspace `workspace` records when it first saw each tombstone
 * (WS-PURGE-11): `W/~purge` (`~` is never in a document id), meta `purge-seen:<D>` as the relay writes them in its
 * catalogue's meta (WS-PURGE-1).
 */
export const tombstoneSightingsKey = (workspace: string): DocId => workspaceDocId(workspace, '~purge')

/**
 * When this replica first saw each tombstone (WS-PURGE-1, WS-PURGE-11), kept in the meta entries `purge-seen:<D>` of
 * one store key (the relay: its catalogue `W/.catalogue`; a client: {@link tombstoneSightingsKey}) so that a restart
 * neither resets nor shortens a retention. The one rule for every replica: a tombstone's retention counts from its
 * first sighting ({@link isPastRetention}), recorded durably before anything relies on it.
 */
export class TombstoneSightings {
  readonly #store: DocStore
  readonly #key: DocId
  readonly #seen: Map<string, number>

  /** Sightings `seen` (as read from `key`'s meta) of `store`'s key `key`. */
  constructor(store: DocStore, key: DocId, seen: ReadonlyMap<string, number> = new Map()) {
    this.#store = store
    this.#key = key
    this.#seen = new Map(seen)
  }

  /** Reads the sightings recorded in the meta of `store`'s key `key` (none when it holds nothing). */
  static async load(store: DocStore, key: DocId): Promise<TombstoneSightings> {
    const stored = await store.load(key)
    return new TombstoneSightings(store, key, readSightings(stored?.meta ?? {}))
  }

  /** When `doc`'s tombstone was first seen, or undefined when it was not recorded. */
  get(doc: string): number | undefined {
    return this.#seen.get(doc)
  }

  /**
   * When `doc`'s tombstone was first seen: recorded as `now` (durably, before this resolves) when it was not yet.
   * A recorded time later than `now` (this replica's clock was set back since) is recorded again as `now`, so a
   * clock that once read the far future cannot postpone the purge for ever either.
   */
  async sight(doc: string, now: number): Promise<number> {
    const at = this.#seen.get(doc)
    if (at !== undefined && at <= now) return at
    await this.#store.setMeta(this.#key, purgeSeenMetaKey(doc), String(now))
    this.#seen.set(doc, now)
    return now
  }

  /**
   * Records the tombstones of `docs` ({@link sight}) and forgets every other recorded one (a document no longer
   * deleted: a later deletion counts afresh). Resolves with each document's first sighting.
   */
  async reconcile(docs: Iterable<string>, now: number): Promise<Map<string, number>> {
    const first = new Map<string, number>()
    for (const doc of docs) first.set(doc, await this.sight(doc, now))
    for (const doc of [...this.#seen.keys()])
      if (!first.has(doc)) {
        await this.#store.setMeta(this.#key, purgeSeenMetaKey(doc), null)
        this.#seen.delete(doc)
      }
    return first
  }
}

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
