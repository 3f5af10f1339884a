import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  CATALOGUE_DOC,
  CATALOGUE_SCHEMA_MARK,
  catalogueEntryBytes,
  catalogueTouched,
  catalogueTouchedBy,
  isWorkspaceDocId,
  splitWorkspaceDoc,
} from '@weft/core'
import { applyObserved, checkReserved, reservedChangesOf, type ReservedChange } from '@weft/core/rules'
import { RoomGrant } from '../auth/RoomGrant.js'
import type { ConnectionContext } from '../hooks.js'
import { changesNothing } from '../relay/changesNothing.js'
import type { RelayPeer, RelayRoom } from '../relay/RelayRoom.js'
import { rejection, type RuleRefusal } from '../relay/rules/RelayRules.js'
import { RoomViews, WriterFences } from '../relay/rules/roomScreen.js'

/** The grant of a peer the relay was given no context for (as the hooks see it). */
const OPEN = RoomGrant.open()

/** The rule id a refused catalogue update carries (WS-ACCESS-3): in the `rejected` message and the close reason. */
export const CATALOGUE_ACCESS_RULE = 'catalogue-access'

/** RULES-5.1 (WS-ACCESS-3): refused behind an earlier refusal, before the writer rolled back (never sent). */
const FENCED: RuleRefusal = Object.freeze({
  ok: false,
  ruleId: 'depends-on-rejected',
  path: Object.freeze([]) as readonly string[],
  reason: 'an earlier catalogue update of this writer was refused and it has not rolled back yet',
})

const refusal = (path: readonly string[], reason: string): RuleRefusal => ({
  ok: false,
  ruleId: CATALOGUE_ACCESS_RULE,
  path,
  reason,
})

/**
 * WS-ACCESS-6: what a partial writer stores in the catalogue's own types (`__weft*`: its schema marks, conflict log)
 * passes the check every ruled document's do (RULES-4.11, `checkReserved`), against the catalogue's schema marks.
 */
const reservedRefusal = (changes: readonly ReservedChange[]): RuleRefusal | null =>
  checkReserved(CATALOGUE_SCHEMA_MARK, changes) as RuleRefusal | null

/** WS-ACCESS-7: a partial writer's change outside the entries (another root, or keyless content of theirs). */
const foreignRefusal = (roots: ReadonlySet<string>): RuleRefusal | null => {
  for (const root of roots)
    return refusal([root], `only the catalogue's entries may be written: ${JSON.stringify(root)} is no entry`)
  return null
}

/** WS-ACCESS-11: how far past the relay's clock a partial writer's timestamp may be (clock skew): one day. */
export const CATALOGUE_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000

const TIMESTAMPS = new Set(['createdAt', 'updatedAt', 'deletedAt'])

/**
 * WS-ACCESS-11: the refusal for a value a partial writer sets in record `doc` that no honest client writes: a
 * timestamp (`createdAt`, `updatedAt`, `deletedAt`) that is not a number from 0 to the relay's clock plus
 * {@link CATALOGUE_CLOCK_SKEW_MS}, a `size` that is not a non-negative integer, an `id` other than the record's key.
 * Other fields (the app's) are not looked at. Null when the value is one of those.
 */
const fieldRefusal = (
  doc: string,
  key: string,
  content: Y.Item['content'],
  now: number,
): RuleRefusal | null => {
  if (!TIMESTAMPS.has(key) && key !== 'size' && key !== 'id') return null
  const value = content instanceof Y.ContentAny && content.arr.length === 1 ? content.arr[0] : undefined
  const ok =
    key === 'id'
      ? value === doc
      : key === 'size'
        ? Number.isSafeInteger(value) && (value as number) >= 0
        : typeof value === 'number' && value >= 0 && value <= now + CATALOGUE_CLOCK_SKEW_MS
  return ok
    ? null
    : refusal(
        [CATALOGUE_COLLECTION, doc, key],
        `impossible ${key} in the entry of document ${JSON.stringify(doc)}`,
      )
}

/** Default {@link CatalogueGuardOptions.maxEntryBytes}: 64 KiB per document's entry (WS-ACCESS-8). */
export const DEFAULT_MAX_CATALOGUE_ENTRY_BYTES = 64 * 1024

/** Options of a {@link CatalogueGuard}. */
export interface CatalogueGuardOptions {
  /**
   * WS-ACCESS-8: the most bytes one document's entry (its record and deletion entries, `catalogueEntryBytes`) may
   * hold after a partial writer's update; such an update that would make an entry larger is refused. Writers of
   * every document are not limited (the relay's `maxDocBytes` still is). Default
   * {@link DEFAULT_MAX_CATALOGUE_ENTRY_BYTES}.
   */
  readonly maxEntryBytes?: number
}

/** Whether an update left something pending: pending `after` it, and not the same bytes as `before` it. */
const leftPending = (after: Uint8Array | null, before: Uint8Array | null): boolean =>
  after !== null && after !== before && (before === null || Buffer.compare(after, before) !== 0)

/** The workspace `W` of a catalogue room `W/.catalogue`, or null for any other room. */
export const catalogueWorkspace = (room: string): string | null => {
  const split = splitWorkspaceDoc(room)
  return split !== null && split.doc === CATALOGUE_DOC ? split.workspace : null
}

/**
 * The relay's guard of workspace catalogues (WS-ACCESS, docs/spec/workspaces.md): every update to a room `W/.catalogue`
 * passes {@link CatalogueGuard.screen} before the room takes it, whoever sends it (a `/relay/W/.catalogue`
 * connection, stock or Weft, or the catalogue's DOC frames on `/workspace/W`; a sync step 2, an update or a
 * reassembled chunk). A writer whose grant gives `write` on every `W/...` room changes what it likes; any other writer
 * may create, change or delete only the records and deletion entries of documents `D` its grant gives `write` on
 * (`W/D`), and an update of it that leaves anything pending is refused (it could touch any record once completed);
 * such a writer also writes nothing outside the entries (WS-ACCESS-7), leaves no entry over `maxEntryBytes`
 * (WS-ACCESS-8), touches no entry whose key is not a document id (WS-ACCESS-9) and sets no impossible timestamp,
 * size or id (WS-ACCESS-11). A
 * refused update is refused whole, exactly as a rules refusal (RULES-4.2, 4.3, 5.1): nothing stored or forwarded, a
 * writer that announced `rollback` is told (`rejected`) and fenced until it rolled back, any other is closed with
 * `UpdateRejected`.
 *
 * Which records an update touches needs the catalogue's state (WS-ACCESS-4): the guard keeps a `Y.Doc` view of a
 * loaded catalogue room once a writer without `write` on all of `W` has sent it an update (kept with the room object,
 * so dropped when the room unloads), built from the room's state and kept in step with every update the room takes
 * from then on; anything the room took another way (another node, an epoch switch, a compaction, an update the rules
 * or the room refused after this guard let it through) makes it start again from the room's state at the next such
 * update. The guard works out what an update touches without applying it (`catalogueTouchedBy`) and applies it to
 * the view only once it allowed it, so an update it refuses leaves the view as it was and costs no rebuild
 * (WS-ACCESS-4). A room whose writers all write every document never has one. For a catalogue of 10,000 records the
 * view holds about 35-45 MB and takes about a second to build (docs/guides/server.md).
 */
export class CatalogueGuard {
  readonly #logger: Logger
  /** One catalogue room's view: the catalogue as the room holds it. */
  readonly #views = new RoomViews<Y.Doc>((doc) => doc.destroy())
  readonly #grants = new WeakMap<RelayPeer, RoomGrant>()
  readonly #fences = new WriterFences()
  readonly #maxEntryBytes: number
  #builds = 0

  constructor(logger: Logger, options: CatalogueGuardOptions = {}) {
    this.#logger = logger
    this.#maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_CATALOGUE_ENTRY_BYTES
  }

  /**
   * How many views this guard has built from a room's state (WS-ACCESS-4): each costs about a second for a catalogue
   * of 10,000 records; a refused update never adds one.
   */
  get viewBuilds(): number {
    return this.#builds
  }

  /**
   * `peer` writes with the grant of `context` (kept for catalogue rooms only; without a context: an open grant, as
   * the hooks see it).
   */
  identify(peer: RelayPeer, context: ConnectionContext | undefined): void {
    if (context && catalogueWorkspace(context.room) !== null) this.#grants.set(peer, context.grant)
  }

  /**
   * WS-ACCESS-1 to 3: checks `update` of `from` to `room` if the room is a catalogue, and calls `accept` (the rest of
   * the admission: the rules, then the room) only if it is allowed. A refused update is never stored or forwarded;
   * the returned promise rejects with a rules refusal (`ruleRefusalOf`), which the connection tells its writer.
   */
  screen(room: RelayRoom, update: Uint8Array, from: RelayPeer, accept: () => Promise<void>): Promise<void> {
    const workspace = catalogueWorkspace(room.docId)
    if (workspace === null) return accept()
    const rollbacks = this.#fences.admit(from, update)
    if (rollbacks === null) return rejection(room.docId, FENCED, true)
    // RELAY-3.9: an update that adds nothing to the room touches no record.
    if (changesNothing(room.log, update)) return accept()
    const grant = this.#grants.get(from) ?? OPEN
    const prefix = `${workspace}/`
    const full = grant.writesAll(prefix)
    // WS-ACCESS-4: a writer of every document needs no view; one that exists is kept in step with its update.
    const view = this.#viewOf(room, !full)
    if (view === null) return accept()
    const verdict = this.#check(room, view, update, full ? null : (d) => grant.access(prefix + d))
    if (verdict !== null) {
      this.#fences.fence(from, rollbacks)
      this.#logger.warn(
        { room: room.docId, sub: grant.subject, path: verdict.path.join('/'), reason: verdict.reason },
        'catalogue update refused',
      )
      return rejection(room.docId, verdict)
    }
    return this.#views.settle(room, view, accept)
  }

  /**
   * The room's view in step with the room; one that is not (the room took something another way) is dropped. When
   * there is none, one is built from the room's state if `build`, else null.
   */
  #viewOf(room: RelayRoom, build: boolean): Y.Doc | null {
    const held = this.#views.current(room)
    if (held !== null || !build) return held
    this.#builds++
    const doc = new Y.Doc()
    doc.getMap(CATALOGUE_COLLECTION)
    doc.getMap(CATALOGUE_DELETIONS)
    const state = room.log.state()
    if (state.byteLength > 0) Y.applyUpdate(doc, state)
    return this.#views.set(room, doc)
  }

  /**
   * WS-ACCESS-2, 4: checks `update` against the view (`access` null: the writer writes every document, nothing to
   * check) and, only when it is allowed, applies it to the view. Returns the refusal, or null when it is allowed. The
   * documents it touches are found without applying it (`catalogueTouchedBy`), so a refusal leaves the view as it
   * was. A view holding something pending (a full writer's update whose dependencies the room lacks) cannot be read
   * that way: the update is applied and its transactions read (`catalogueTouched`), and a refusal then drops the view.
   */
  #check(
    room: RelayRoom,
    view: Y.Doc,
    update: Uint8Array,
    access: ((doc: string) => string) | null,
  ): RuleRefusal | null {
    const store = view.store
    if (access !== null && store.pendingStructs === null && store.pendingDs === null) {
      const reserved: ReservedChange[] = []
      const foreign = new Set<string>()
      const added = new Map<string, number>()
      let impossible: RuleRefusal | null = null
      const now = Date.now()
      const touched = catalogueTouchedBy(view, update, {
        reserved: (c) => reserved.push(c),
        foreign: (root) => foreign.add(root),
        added: (doc, bytes) => added.set(doc, (added.get(doc) ?? 0) + bytes),
        field: (doc, key, content) => {
          impossible ??= fieldRefusal(doc, key, content, now)
        },
      })
      if (touched === null)
        return refusal([], 'the update depends on catalogue changes the relay does not have')
      const denied =
        this.#denied(touched, access) ??
        foreignRefusal(foreign) ??
        this.#oversized(added, (doc) => catalogueEntryBytes(view, doc)) ??
        impossible ??
        reservedRefusal(reserved)
      if (denied !== null) return denied
    }
    const verdict = this.#apply(view, update, access)
    if (verdict !== null) this.#views.drop(room, view)
    return verdict
  }

  /**
   * The refusal for the first of `touched` the writer may not write (WS-ACCESS-1), or that is not a document id
   * (WS-ACCESS-9: `.catalogue`, `A~epoch~0`, an empty or too long key), or null.
   */
  #denied(touched: Iterable<string>, access: (doc: string) => string): RuleRefusal | null {
    for (const doc of touched) {
      if (!isWorkspaceDocId(doc))
        return refusal([CATALOGUE_COLLECTION, doc], `${JSON.stringify(doc)} is not a document id`)
      if (access(doc) !== 'write')
        return refusal([CATALOGUE_COLLECTION, doc], `no write access to document ${JSON.stringify(doc)}`)
    }
    return null
  }

  /**
   * WS-ACCESS-8: the refusal for the first entry an update would make larger than the cap: `added` the bytes it
   * inserts per document, `held` the entry's live bytes before it (counted whole: what the update overwrites is not
   * subtracted), or null.
   */
  #oversized(added: ReadonlyMap<string, number>, held: (doc: string) => number): RuleRefusal | null {
    const cap = this.#maxEntryBytes
    for (const [doc, bytes] of added)
      if (bytes > cap || bytes + held(doc) > cap)
        return refusal(
          [CATALOGUE_COLLECTION, doc],
          `the entry of document ${JSON.stringify(doc)} would exceed ${cap} bytes`,
        )
    return null
  }

  /**
   * Applies `update` to the view; `access` null: the writer writes every document (nothing to check). Returns the
   * refusal, or null when the update is allowed.
   */
  #apply(doc: Y.Doc, update: Uint8Array, access: ((doc: string) => string) | null): RuleRefusal | null {
    const store = doc.store
    const pendingBefore = [store.pendingStructs?.update ?? null, store.pendingDs] as const
    let transactions: Y.Transaction[]
    const reserved: ReservedChange[] = []
    try {
      transactions = applyObserved(
        doc,
        update,
        access === null ? undefined : (tr) => reservedChangesOf(tr, reserved),
      )
    } catch (err) {
      // The room refuses what Yjs cannot apply anyway; only a partial writer is refused here.
      if (access === null) return null
      return refusal([], `the update cannot be applied: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (access === null) return null
    // Left pending (its parents or origins are missing): once completed it could change any record. What was
    // pending before (a full writer's) and is left as it was does not count against this writer; what this update
    // completed is in its transactions, checked below.
    if (
      leftPending(store.pendingStructs?.update ?? null, pendingBefore[0]) ||
      leftPending(store.pendingDs, pendingBefore[1])
    )
      return refusal([], 'the update depends on catalogue changes the relay does not have')
    const foreign = new Set<string>()
    const touched = catalogueTouched(doc, transactions, (root) => foreign.add(root))
    // Applied already: each touched entry is measured as it is now (nothing more added).
    const sized = new Map<string, number>()
    for (const d of touched) sized.set(d, 0)
    return (
      this.#denied(touched, access) ??
      foreignRefusal(foreign) ??
      this.#oversized(sized, (d) => catalogueEntryBytes(doc, d)) ??
      reservedRefusal(reserved)
    )
  }
}
