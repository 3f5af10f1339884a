import type { Logger } from 'pino'
import {
  CATALOGUE_DOC,
  CloseCode,
  DEFAULT_WORKSPACE_RETENTION_MS,
  isPastRetention,
  isWorkspaceIndexed,
  loadCataloguePurgeState,
  purgeWorkspaceDoc,
  splitWorkspaceDoc,
  TombstoneSightings,
  workspaceDocId,
  workspaceDocKeys,
  type DocStore,
} from '@weft/core'
import { WeftServerError } from '../WeftServerError.js'

/**
 * How the relay refuses a document past its retention (WS-PURGE-5), on every path: a SUBSCRIBE on a workspace socket
 * is answered REFUSED with it, a connection to the per-room endpoint `/relay/W/D` is closed with it.
 */
export const DOCUMENT_DELETED = { code: CloseCode.Forbidden, reason: 'document deleted' } as const

/**
 * How the relay refuses a document of a workspace whose catalogue it could not read (WS-PURGE-9): it cannot vouch
 * that the document is not past its retention, so it does not let it be written back. `InternalError` (4012) is
 * retryable: a client tries again later, by when the catalogue may have been read.
 */
export const DELETIONS_UNKNOWN = { code: CloseCode.InternalError, reason: 'deletions not read' } as const

/**
 * What the purge says of a room (WS-PURGE-5, WS-PURGE-9): `live` (not a workspace document, the catalogue, or a
 * document not past its retention), `deleted` (past its retention), `unknown` (its workspace's catalogue has not been
 * read: the read failed, or is still running).
 */
export type PurgeVerdict = 'live' | 'deleted' | 'unknown'

/** How the purge refuses a room: {@link DOCUMENT_DELETED} or {@link DELETIONS_UNKNOWN}. */
export type PurgeRefusal = typeof DOCUMENT_DELETED | typeof DELETIONS_UNKNOWN

/** The refusal for a verdict: {@link DOCUMENT_DELETED}, {@link DELETIONS_UNKNOWN}, or `null` to admit the room. */
export const refusalOf = (verdict: PurgeVerdict): PurgeRefusal | null =>
  verdict === 'deleted' ? DOCUMENT_DELETED : verdict === 'unknown' ? DELETIONS_UNKNOWN : null

/** How long a join waits for its workspace's catalogue to be read (WS-PURGE-9) by default: 5 s. */
export const PURGE_READ_TIMEOUT_MS = 5000

/** Longest time between two sweeps (WS-PURGE-4): an hour. */
export const MAX_PURGE_INTERVAL_MS = 60 * 60 * 1000
/** Shortest time between two sweeps: a second. */
export const MIN_PURGE_INTERVAL_MS = 1000

/** The sweep interval for `retention` (WS-PURGE-4): a quarter of it, between a second and an hour. */
export const purgeIntervalOf = (retention: number): number =>
  Math.min(MAX_PURGE_INTERVAL_MS, Math.max(MIN_PURGE_INTERVAL_MS, Math.floor(retention / 4)))

/**
 * The retention of the relay's `workspaceRetention` option (WS-PURGE-1): the default for `undefined`, `null` for
 * `false` (never purge). Throws `invalid-argument` for anything but a non-negative finite number of milliseconds.
 */
export const workspaceRetentionOf = (value: number | false | undefined): number | null => {
  if (value === false) return null
  if (value === undefined) return DEFAULT_WORKSPACE_RETENTION_MS
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new WeftServerError(
      'invalid-argument',
      `workspaceRetention must be a number of milliseconds (>= 0) or false, got ${String(value)}`,
    )
  }
  return value
}

/** Options of {@link WorkspacePurger}. */
export interface WorkspacePurgerOptions {
  /** The relay's store. */
  readonly store: DocStore
  /** How long a deleted document's data is kept after the relay first saw its tombstone (ms, WS-PURGE-1). */
  readonly retention: number
  /** Whether room `W/D` is loaded on this node: its data is left for a later sweep. */
  readonly isLoaded: (room: string) => boolean
  /** Time between sweeps (default {@link purgeIntervalOf}`(retention)`). */
  readonly intervalMs?: number | undefined
  /** The clock (default `Date.now`). */
  readonly now?: (() => number) | undefined
  /** How long {@link WorkspacePurger.whenRead} waits for a catalogue read (default {@link PURGE_READ_TIMEOUT_MS}). */
  readonly readTimeoutMs?: number | undefined
  readonly logger: Logger
}

/** What one {@link WorkspacePurger.sweep} did. */
export interface PurgeSweep {
  /** Workspaces whose catalogue was read (new, or changed since the last sweep). */
  readonly read: number
  /** Rooms `W/D` whose data was removed. */
  readonly purged: readonly string[]
  /** Rooms past the retention left for a later sweep because they are loaded on this node. */
  readonly held: readonly string[]
}

/** What the purger knows of one workspace. */
interface Known {
  /** The workspace's change sequence when its catalogue was read (-1: unknown, read again at the next sweep). */
  seq: number
  /** Tombstones: document -> when the relay first saw it (ms, its own clock; WS-PURGE-1). */
  readonly tombstones: Map<string, number>
  /** Documents past the retention that hold no data any more (nothing to remove until the sequence moves). */
  readonly clean: Set<string>
}

/**
 * The relay's purge of deleted workspace documents (docs/spec/workspaces.md, WS-PURGE-*): sweeps the store at start
 * and every interval, reads the catalogue `W/.catalogue` of each workspace that changed since the last sweep, and
 * removes the data of every document whose tombstone is past the retention and whose room is not loaded here. The
 * retention counts from when the relay first saw a tombstone (recorded in the catalogue's store meta, so a restart
 * keeps it), never from the `deletedAt` a client wrote; the tombstones are the catalogue's by the rule every replica
 * reads (WS-PURGE-10, `catalogueTombstones`). It also decides for the endpoints, which refuse documents past the
 * retention and documents of workspaces whose catalogue could not be read: {@link refusal} for a connection to
 * `/relay/W/D` (upgrade or `accept`), {@link verdictOf} for a SUBSCRIBE.
 *
 * Cheap: a sweep reads the list of workspaces (one query with a `WorkspaceIndex`), a catalogue only when its
 * workspace's sequence moved, and the store's listing only when some document is due; it runs apart from every room
 * (one at a time, never holding a room), and a failure is logged and retried at the next sweep.
 */
export class WorkspacePurger {
  readonly #opts: WorkspacePurgerOptions
  readonly #now: () => number
  readonly #known = new Map<string, Known>()
  /** Catalogue reads for {@link gone}, one per workspace at a time. */
  readonly #reading = new Map<string, Promise<void>>()
  #running: Promise<PurgeSweep> | null = null
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor(opts: WorkspacePurgerOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
  }

  /** Sweeps now, then every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.#timer || this.#closed) return
    void this.sweep()
    this.#timer = setInterval(
      () => void this.sweep(),
      this.#opts.intervalMs ?? purgeIntervalOf(this.#opts.retention),
    )
    this.#timer.unref()
  }

  /** Stops the sweeps and waits for a running one. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#running
    await Promise.all(this.#reading.values())
  }

  /**
   * How a connection to room `W/D` is refused, or `null` to admit it (WS-PURGE-8, WS-PURGE-9): the one decision of
   * both ways into the per-room endpoint (an upgrade to `/relay/W/D` and a socket handed to `accept({ room })`). From
   * the last read of W's catalogue, at once; when W's catalogue has not been read, a promise that settles once it was
   * read, failed or timed out ({@link whenRead}): {@link DELETIONS_UNKNOWN} unless it was read.
   */
  refusal(room: string): PurgeRefusal | null | Promise<PurgeRefusal | null> {
    const split = splitWorkspaceDoc(room)
    if (split && split.doc !== CATALOGUE_DOC && !this.#known.has(split.workspace))
      return this.verdict(room).then(refusalOf)
    return refusalOf(this.verdictOf(room))
  }

  /**
   * What the last read of W's catalogue says of room `W/D` (WS-PURGE-5, WS-PURGE-9), synchronously. A workspace whose
   * catalogue has not been read answers `unknown` for its documents (never for its catalogue) and is read now.
   */
  verdictOf(room: string): PurgeVerdict {
    const split = splitWorkspaceDoc(room)
    if (!split || split.doc === CATALOGUE_DOC) return 'live'
    const known = this.#known.get(split.workspace)
    if (!known) {
      void this.watch(split.workspace)
      return 'unknown'
    }
    const seen = known.tombstones.get(split.doc)
    return seen !== undefined && isPastRetention(seen, this.#opts.retention, this.#now()) ? 'deleted' : 'live'
  }

  /** {@link verdictOf} once {@link whenRead} settled for the room's workspace. */
  async verdict(room: string): Promise<PurgeVerdict> {
    const split = splitWorkspaceDoc(room)
    if (!split || split.doc === CATALOGUE_DOC) return 'live'
    await this.whenRead(split.workspace)
    // A failed (or slow) read answers without starting another one: the client's retry does.
    return this.#known.has(split.workspace) ? this.verdictOf(room) : 'unknown'
  }

  /** Whether `workspace`'s catalogue was read (its tombstones are known). */
  knows(workspace: string): boolean {
    return this.#known.has(workspace)
  }

  /**
   * Settles once `workspace`'s catalogue was read ({@link watch}), its read failed, or `readTimeoutMs` passed
   * (WS-PURGE-9); never rejects. Right away when it is known.
   */
  whenRead(workspace: string): Promise<void> {
    if (this.#known.has(workspace) || this.#closed) return Promise.resolve()
    const reading = this.watch(workspace)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#opts.readTimeoutMs ?? PURGE_READ_TIMEOUT_MS)
      timer.unref()
    })
    return Promise.race([reading, timeout]).finally(() => clearTimeout(timer))
  }

  /** Reads the tombstones of `workspace` if they are not known yet (its first socket on this node opened). */
  watch(workspace: string): Promise<void> {
    if (this.#known.has(workspace) || this.#closed) return Promise.resolve()
    let reading = this.#reading.get(workspace)
    if (!reading) {
      reading = this.#read(workspace, -1)
        .catch((err: unknown) => this.#opts.logger.error({ err, workspace }, 'could not read the catalogue'))
        .finally(() => this.#reading.delete(workspace))
      this.#reading.set(workspace, reading)
    }
    return reading
  }

  /** One sweep (WS-PURGE-4); a sweep asked for while one runs is that one. */
  sweep(): Promise<PurgeSweep> {
    if (this.#running) return this.#running
    const running = this.#sweep()
      .catch((err: unknown): PurgeSweep => {
        this.#opts.logger.error({ err }, 'workspace purge failed')
        return { read: 0, purged: [], held: [] }
      })
      .finally(() => {
        this.#running = null
      })
    this.#running = running
    return running
  }

  async #sweep(): Promise<PurgeSweep> {
    const { store, retention, isLoaded, logger } = this.#opts
    const purged: string[] = []
    const held: string[] = []
    let read = 0
    // Without a WorkspaceIndex the store's listing names the workspaces (those with a catalogue), with no sequence.
    let listing: Set<string> | null = null
    const workspaces: Array<{ id: string; seq: number }> = []
    const index = isWorkspaceIndexed(store) ? store : null
    if (index) {
      for (const w of await index.workspaces()) workspaces.push({ id: w.id, seq: w.seq })
    } else {
      listing = new Set(await store.list())
      for (const id of listing) {
        const split = splitWorkspaceDoc(id)
        if (split?.doc === CATALOGUE_DOC) workspaces.push({ id: split.workspace, seq: -1 })
      }
    }
    for (const { id: workspace, seq } of workspaces) {
      if (this.#closed) break
      let known = this.#known.get(workspace)
      if (!known || seq < 0 || known.seq !== seq) {
        await this.#read(workspace, seq)
        known = this.#known.get(workspace) as Known
        read++
      }
      const now = this.#now()
      let removed = 0
      for (const [doc, seen] of known.tombstones) {
        if (known.clean.has(doc) || !isPastRetention(seen, retention, now)) continue
        listing ??= new Set(await store.list())
        const keys = workspaceDocKeys(listing, workspace, doc)
        const room = workspaceDocId(workspace, doc)
        if (keys.length === 0) {
          known.clean.add(doc)
          continue
        }
        if (isLoaded(room)) {
          held.push(room)
          continue
        }
        for (const key of await purgeWorkspaceDoc(store, workspace, doc, keys)) listing.delete(key)
        known.clean.add(doc)
        purged.push(room)
        removed++
      }
      // Each removal of a `W/D` is one change of W (WS-STORE): when nothing else was stored meanwhile, the catalogue
      // read still holds and the next sweep need not read it again.
      if (index && removed > 0 && seq >= 0 && (await index.workspaceSeq(workspace)) === seq + removed) {
        known.seq = seq + removed
      }
    }
    if (purged.length > 0 || held.length > 0) {
      logger.info({ purged, held, retention }, 'deleted workspace documents purged')
    }
    return { read, purged, held }
  }

  /**
   * Reads `workspace`'s tombstones from its stored catalogue; `seq` is the sequence they go with (-1 unknown). Each
   * tombstone counts from when this relay first saw it (WS-PURGE-1): a new one is recorded now in the catalogue's
   * meta `purge-seen:<D>` (before it is known, so a restart never counts it from later than it was first known), and
   * the entry of a document no longer deleted is removed.
   */
  async #read(workspace: string, seq: number): Promise<void> {
    const { store } = this.#opts
    const { tombstones, seen } = await loadCataloguePurgeState(store, workspace)
    // The one rule of every replica (WS-PURGE-11); undeleted within the retention: a later deletion counts afresh.
    const sightings = new TombstoneSightings(store, workspaceDocId(workspace, CATALOGUE_DOC), seen)
    const first = await sightings.reconcile(
      tombstones.map((t) => t.doc),
      this.#now(),
    )
    const before = this.#known.get(workspace)
    // A document found clean stays so while nothing was stored in the workspace since.
    const clean = new Set(before && before.seq === seq && seq >= 0 ? before.clean : [])
    this.#known.set(workspace, { seq, tombstones: first, clean })
  }
}
