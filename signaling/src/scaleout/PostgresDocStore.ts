import { deflateRawSync, inflateRawSync } from 'node:zlib'
import type pg from 'pg'
import {
  INITIAL_EPOCH,
  WeftError,
  WeftErrorCode,
  type AppendOptions,
  type CompactOptions,
  type CompactResult,
  type DocId,
  type DocStore,
  type RemoveOptions,
  type RemoveResult,
  type StoredDoc,
  type WorkspaceChanges,
  type WorkspaceIndex,
  type WorkspaceSummary,
} from '@weft/core'
import { EPOCH_META_KEY } from '@weft/core/epochs'
import { epochMismatchError } from '@weft/core/store-kit'
import {
  AppendQueue,
  compactionIsChange,
  indexedWorkspaceDoc,
  metaBytes,
  rejectAppends,
  type PendingAppend,
} from '@weft/core/store-kit'
import {
  COMPACT_LOCK_KEY,
  META_BYTES_SCHEMA_VERSION,
  POSTGRES_SCHEMA_VERSION,
  SCHEMA_LOCK_KEY,
  WORKSPACE_INDEX_SCHEMA_VERSION,
  isSafeSchemaName,
  metaBytesStatements,
  schemaStatements,
} from './postgresSchema.js'
import { requireDriver } from './requireDriver.js'
import * as wsIndex from './postgresWorkspaceIndex.js'

/** The members of a `pg` `Pool` that {@link PostgresDocStoreOptions.pool} must have (a `pg.Pool` has them). */
export interface PostgresPool {
  connect(): Promise<unknown>
  query(text: string, values?: unknown[]): Promise<unknown>
  end(): Promise<void>
  on(event: 'error', listener: (err: Error) => void): unknown
}

/** Options of {@link PostgresDocStore}. */
export interface PostgresDocStoreOptions {
  /** A `postgresql://` connection string (a Unix socket directory goes in `?host=/path`). */
  readonly connectionString?: string | undefined
  /**
   * An existing `pg` pool to use instead (`new pg.Pool(...)`; not ended by {@link PostgresDocStore.close}). Typed
   * by the few members the store relies on, so that an app that does not use scale-out type-checks without `pg`'s
   * types.
   */
  readonly pool?: PostgresPool | undefined
  /** PostgreSQL schema holding the tables (default `public`; created if missing). */
  readonly schema?: string | undefined
  /** Connections of the pool the store creates (default 8). */
  readonly maxConnections?: number | undefined
}

/** What {@link PostgresDocStore.readSince} returns: everything stored after a clock. */
export interface StoredTail {
  /** The snapshot (V2), when it covers clocks after `after` (another node compacted them away); else `null`. */
  readonly snapshot: Uint8Array | null
  /** Clock covered by `snapshot` (0 without one). */
  readonly snapshotClock: number
  /** Tail updates after `max(after, snapshotClock)`, oldest first. */
  readonly updates: ReadonlyArray<{ readonly clock: number; readonly data: Uint8Array }>
  /** Last clock of the document (0 for an unknown one). */
  readonly clock: number
}

/**
 * An append at least this large is committed apart from its window's batch, in its document's lane (SCALE-1.5):
 * writing tens of MiB takes PostgreSQL seconds, which the other documents' acknowledgements must not wait for.
 */
export const LARGE_APPEND_BYTES = 1 << 20

/** SCALE-1.5: one document's appends committed apart from the batches, in call order. */
interface Lane {
  queue: PendingAppend<Buffer>[]
  /** Settles when the lane has committed (or failed) everything and is gone. */
  done: Promise<void>
}

/** The documents an operation reads: these, those a predicate picks, or every one (`null`). */
type Concerned = readonly DocId[] | ((docId: DocId) => boolean) | null

/** The documents of `workspace` (WS-STORE-1.1): what its sequence and changes depend on. */
const inWorkspace =
  (workspace: string) =>
  (docId: DocId): boolean =>
    indexedWorkspaceDoc(docId)?.workspace === workspace

/** Maps a pg failure to a WeftError: data-corruption SQLSTATEs (class XX) are `store-corrupted`. */
const toStoreError = (err: unknown, what: string): WeftError => {
  if (err instanceof WeftError) return err
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  const detail = err instanceof Error ? err.message : String(err)
  const weftCode =
    code === 'XX001' || code === 'XX002' ? WeftErrorCode.StoreCorrupted : WeftErrorCode.StoreFailed
  return new WeftError(weftCode, `PostgresDocStore ${what}: ${detail}`, { cause: err })
}

const corrupted = (docId: string, what: string): WeftError =>
  new WeftError(WeftErrorCode.StoreCorrupted, `PostgresDocStore: document ${JSON.stringify(docId)}: ${what}`)

/** A stored bytea (pg returns a Buffer); anything else is corruption. */
const bytesOf = (docId: string, value: unknown): Uint8Array => {
  if (!(value instanceof Uint8Array)) throw corrupted(docId, `a stored row is ${typeof value}, not bytea`)
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * Meta values as stored (STORE-4.3): a base64 entry (the epoch records) as the deflated bytes in `data` (a record
 * is mostly the document's content in V2, which deflates 5-6x), every other value as text in `value`.
 */
const metaValues = metaBytes({ compress: deflateRawSync, decompress: inflateRawSync })

/** A stored meta row as `load` gives it: text as it is (every row of schema versions 1-2), bytes as base64. */
const loadedMeta = (docId: string, key: unknown, value: unknown, data: unknown): string => {
  if (typeof key !== 'string') throw corrupted(docId, 'bad metadata row')
  const loaded = metaValues.loaded(key, value ?? data)
  if (loaded.ok) return loaded.value
  throw corrupted(
    docId,
    loaded.reason === 'bad-row' ? 'bad metadata row' : `metadata ${JSON.stringify(key)} does not inflate`,
  )
}

/** A stored bigint (pg returns it as a string). */
const clockOf = (docId: string, value: unknown): number => {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw corrupted(docId, 'a stored clock is not a non-negative integer')
  }
  return n
}

/**
 * A {@link DocStore} on PostgreSQL (`pg` 8), shared by every node of a scale-out deployment. Clocks come from a
 * per-document counter row incremented in the same transaction as the appended rows, so they are gap-free and strictly
 * increasing across nodes, and commit in clock order. Appends issued while a write is in flight are committed together
 * (group commit, one statement; a document whose row is locked elsewhere, or with a large append, is committed apart:
 * SCALE-1.5); compaction takes a row lock plus a per-document advisory lock, so two nodes never
 * compact one document at once (the second gets `stale`). Tables are created on first use (`weft_schema` records their
 * version). The epoch records are kept as deflated bytes (STORE-4.3; text rows of schema version 2 load as they are).
 * Rules: docs/spec/storage.md, SCALE-1 in docs/spec/relay-protocol.md.
 *
 * It keeps the {@link WorkspaceIndex} (`WS-STORE-*`): the statement of an append batch, and the transaction of a
 * compaction that switches the epoch or a removal, of a `W/D` document bumps W's counter row (one seq per document per
 * commit) after locking the documents' rows, so the sequence is gap-free and commits in order across nodes. A database
 * of an older schema version is upgraded when a node of this version opens it (version 1: indexed; version 2: meta rows
 * may hold bytes); a node of an older version then refuses to start on it, so upgrade every node together.
 */
export class PostgresDocStore implements DocStore, WorkspaceIndex {
  readonly #pool: pg.Pool
  readonly #ownsPool: boolean
  readonly #schema: string
  #init: Promise<void> | null = null
  /** Group commit (STORE-2.4): what is queued while a write is in flight is the next write. */
  readonly #appends = new AppendQueue<Buffer>(() => this.#schedule())
  #scheduled = false
  /** The batch in flight (one at a time) and its documents. */
  #writing: Promise<void> | null = null
  #inFlight = new Set<DocId>()
  /** SCALE-1.5: per document, appends committed apart from the batches (a large append, a row held elsewhere). */
  readonly #lanes = new Map<DocId, Lane>()
  #laneSlots: number
  readonly #laneWaiters: Array<() => void> = []
  #closed = false
  /** The liveness query in flight (HTTP-1.1: one at a time, however often the health is asked). */
  #pinging: Promise<boolean> | null = null

  constructor(options: PostgresDocStoreOptions) {
    const schema = options.schema ?? 'public'
    if (!isSafeSchemaName(schema)) {
      throw new WeftError(
        WeftErrorCode.InvalidArgument,
        `invalid PostgreSQL schema name ${JSON.stringify(schema)}`,
      )
    }
    this.#schema = schema
    if (options.pool) {
      // The structural type is what the option promises; the store uses it as the `pg.Pool` it is.
      this.#pool = options.pool as unknown as pg.Pool
      this.#ownsPool = false
    } else {
      if (!options.connectionString) {
        throw new WeftError(
          WeftErrorCode.InvalidArgument,
          'PostgresDocStore needs a connectionString or a pool',
        )
      }
      // pg is an optional peer dependency, loaded only when a store makes its pool (WeftServerError if missing).
      const { Pool } = requireDriver<{ Pool: typeof pg.Pool }>('pg')
      this.#pool = new Pool({
        connectionString: options.connectionString,
        max: options.maxConnections ?? 8,
      })
      this.#ownsPool = true
    }
    // Lanes leave at least two connections to the batches and reads (pg's default pool is 10).
    const max = (this.#pool as { options?: { max?: unknown } }).options?.max
    this.#laneSlots = Math.max(1, (typeof max === 'number' ? max : 10) - 2)
    // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
    this.#pool.on('error', () => undefined)
  }

  /** Creates the tables if missing (also done lazily by the first operation); checks the stored schema version. */
  ready(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new WeftError(WeftErrorCode.Destroyed, 'PostgresDocStore is closed'))
    this.#init ??= this.#createSchema().catch((err: unknown) => {
      this.#init = null
      throw toStoreError(err, 'schema')
    })
    return this.#init
  }

  async load(docId: DocId): Promise<StoredDoc | null> {
    await this.#before([docId])
    const t = this.#table
    try {
      return await this.#transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (c) => {
        const snap = await c.query(`SELECT clock, data FROM ${t('snapshots')} WHERE doc = $1`, [docId])
        const rows = await c.query(`SELECT clock, data FROM ${t('updates')} WHERE doc = $1 ORDER BY clock`, [
          docId,
        ])
        const metaRows = await c.query(`SELECT key, value, data FROM ${t('meta')} WHERE doc = $1`, [docId])
        if (snap.rowCount === 0 && rows.rowCount === 0 && metaRows.rowCount === 0) return null
        const s = snap.rows[0] as { clock: unknown; data: unknown } | undefined
        const snapshot = s ? bytesOf(docId, s.data) : null
        let clock = s ? clockOf(docId, s.clock) : 0
        let byteLength = snapshot?.byteLength ?? 0
        const updates = (rows.rows as Array<{ clock: unknown; data: unknown }>).map((row) => {
          const data = bytesOf(docId, row.data)
          clock = clockOf(docId, row.clock)
          byteLength += data.byteLength
          return data
        })
        const meta: Record<string, string> = {}
        for (const row of metaRows.rows as Array<{ key: unknown; value: unknown; data: unknown }>)
          meta[String(row.key)] = loadedMeta(docId, row.key, row.value, row.data)
        return { snapshot, updates, clock, byteLength, meta }
      })
    } catch (err) {
      throw toStoreError(err, 'load')
    }
  }

  /**
   * Everything stored for `docId` after clock `after` (SCALE-2.3): how a node catches up after a lost bus message.
   * When another node compacted past `after`, the snapshot is included (applying it is idempotent).
   */
  async readSince(docId: DocId, after: number): Promise<StoredTail> {
    await this.#before([docId])
    const t = this.#table
    try {
      return await this.#transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (c) => {
        const head = await c.query(`SELECT clock FROM ${t('docs')} WHERE doc = $1`, [docId])
        const snap = await c.query(
          `SELECT clock, CASE WHEN clock > $2 THEN data END AS data FROM ${t('snapshots')} WHERE doc = $1`,
          [docId, after],
        )
        const s = snap.rows[0] as { clock: unknown; data: unknown } | undefined
        const snapshotClock = s ? clockOf(docId, s.clock) : 0
        const from = Math.max(after, snapshotClock)
        const rows = await c.query(
          `SELECT clock, data FROM ${t('updates')} WHERE doc = $1 AND clock > $2 ORDER BY clock`,
          [docId, from],
        )
        const head0 = head.rows[0] as { clock: unknown } | undefined
        return {
          snapshot: s && s.data !== null ? bytesOf(docId, s.data) : null,
          snapshotClock,
          updates: (rows.rows as Array<{ clock: unknown; data: unknown }>).map((r) => ({
            clock: clockOf(docId, r.clock),
            data: bytesOf(docId, r.data),
          })),
          clock: head0 ? clockOf(docId, head0.clock) : 0,
        }
      })
    } catch (err) {
      throw toStoreError(err, 'readSince')
    }
  }

  /** The last clock of each of `docIds` (0 for unknown ones), in one query: the nodes' periodic sweep. */
  async lastClocks(docIds: readonly DocId[]): Promise<Map<DocId, number>> {
    await this.#before(docIds)
    const out = new Map<DocId, number>(docIds.map((d) => [d, 0]))
    if (docIds.length === 0) return out
    try {
      const res = await this.#pool.query(
        `SELECT doc, clock FROM ${this.#table('docs')} WHERE doc = ANY($1::text[])`,
        [[...docIds]],
      )
      for (const row of res.rows as Array<{ doc: string; clock: unknown }>)
        out.set(row.doc as DocId, clockOf(row.doc, row.clock))
      return out
    } catch (err) {
      throw toStoreError(err, 'lastClocks')
    }
  }

  append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    if (this.#closed)
      return Promise.reject(new WeftError(WeftErrorCode.Destroyed, 'PostgresDocStore is closed'))
    // Copy now: the caller may reuse its buffer (STORE-1.4).
    return this.#appends.push(docId, Buffer.from(update), options)
  }

  async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    // Copy before the first await: the caller may reuse its buffer (STORE-1.4).
    const data = Buffer.from(snapshot)
    await this.#before([docId])
    const t = this.#table
    try {
      return await this.#transaction('BEGIN', async (c): Promise<CompactResult> => {
        // SCALE-1.3: one compaction per document at a time across nodes; a second one does not wait, it is stale.
        const lock = await c.query(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked`, [
          COMPACT_LOCK_KEY,
          docId,
        ])
        if ((lock.rows[0] as { locked: boolean }).locked !== true) return { ok: false, reason: 'stale' }
        const head = await c.query(`SELECT clock FROM ${t('docs')} WHERE doc = $1 FOR UPDATE`, [docId])
        const snap = await c.query(`SELECT clock FROM ${t('snapshots')} WHERE doc = $1`, [docId])
        const headRow = head.rows[0] as { clock: unknown } | undefined
        const snapRow = snap.rows[0] as { clock: unknown } | undefined
        const last = headRow ? clockOf(docId, headRow.clock) : 0
        const snapshotClock = snapRow ? clockOf(docId, snapRow.clock) : 0
        if (throughClock < snapshotClock || throughClock > last) return { ok: false, reason: 'stale' }
        // STORE-3.7: `last` is the counter row locked above, so no append can commit in between.
        if (options?.exact && last > throughClock) return { ok: false, reason: 'stale' }
        // STORE-3.8: read after the lock (READ COMMITTED: this statement sees every commit before it); also for
        // WS-STORE-2.1 (an epoch switch is a change of the workspace, a log compaction is not).
        const epoch =
          options?.epoch !== undefined || options?.meta?.[EPOCH_META_KEY] !== undefined
            ? ((await this.#storedEpochs(c, [docId])).get(docId) ?? INITIAL_EPOCH)
            : INITIAL_EPOCH
        if (options?.epoch !== undefined && epoch !== options.epoch) return { ok: false, reason: 'stale' }
        const change = compactionIsChange(options?.meta, () => epoch, snapRow !== undefined || last > 0)
        if (!headRow)
          await c.query(`INSERT INTO ${t('docs')} (doc, clock) VALUES ($1, $2)`, [docId, throughClock])
        await c.query(
          `INSERT INTO ${t('snapshots')} (doc, clock, data) VALUES ($1, $2, $3)
           ON CONFLICT (doc) DO UPDATE SET clock = excluded.clock, data = excluded.data`,
          [docId, throughClock, data],
        )
        await c.query(`DELETE FROM ${t('updates')} WHERE doc = $1 AND clock <= $2`, [docId, throughClock])
        for (const [key, value] of Object.entries(options?.meta ?? {}))
          await this.#putMeta(c, docId, key, value)
        if (change) await wsIndex.advanceWorkspaces(c, this.#wsTables, [docId])
        return { ok: true }
      })
    } catch (err) {
      throw toStoreError(err, 'compact')
    }
  }

  async setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    await this.#before([docId])
    try {
      const c = await this.#pool.connect()
      try {
        await this.#putMeta(c, docId, key, value)
      } finally {
        c.release()
      }
    } catch (err) {
      throw toStoreError(err, 'setMeta')
    }
  }

  async remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    await this.#before([docId])
    const t = this.#table
    const stale = new Error('stale')
    try {
      await this.#transaction('BEGIN', async (c) => {
        if (options?.ifClock !== undefined) {
          // STORE-5.3: the counter row, created if absent, locked until commit: no append of any node commits between
          // the check and the removal. A stale check rolls back (the row it may have created included).
          const head = await c.query(
            `INSERT INTO ${t('docs')} (doc, clock) VALUES ($1, 0)
             ON CONFLICT (doc) DO UPDATE SET clock = ${t('docs')}.clock RETURNING clock`,
            [docId],
          )
          if (clockOf(docId, (head.rows[0] as { clock: unknown }).clock) !== options.ifClock) throw stale
        }
        for (const table of ['docs', 'snapshots', 'updates', 'meta'] as const) {
          await c.query(`DELETE FROM ${t(table)} WHERE doc = $1`, [docId])
        }
        await wsIndex.removeFromWorkspace(c, this.#wsTables, docId)
      })
    } catch (err) {
      if (err === stale) return { ok: false, reason: 'stale' }
      throw toStoreError(err, 'remove')
    }
    return { ok: true }
  }

  async list(): Promise<DocId[]> {
    await this.#before()
    const t = this.#table
    try {
      const res = await this.#pool.query(
        `SELECT doc FROM ${t('updates')} UNION SELECT doc FROM ${t('snapshots')} UNION SELECT doc FROM ${t('meta')}`,
      )
      return (res.rows as Array<{ doc: string }>).map((r) => r.doc as DocId)
    } catch (err) {
      throw toStoreError(err, 'list')
    }
  }

  async workspaceSeq(workspace: string): Promise<number> {
    await this.#before(inWorkspace(workspace))
    try {
      return await wsIndex.workspaceSeq(this.#pool, this.#wsTables, workspace)
    } catch (err) {
      throw toStoreError(err, 'workspaceSeq')
    }
  }

  async changesSince(workspace: string, cursor: number, limit: number): Promise<WorkspaceChanges> {
    await this.#before(inWorkspace(workspace))
    try {
      return await this.#transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (c) =>
        wsIndex.changesSince(c, this.#wsTables, workspace, cursor, limit),
      )
    } catch (err) {
      throw toStoreError(err, 'changesSince')
    }
  }

  async workspaces(): Promise<WorkspaceSummary[]> {
    await this.#before()
    try {
      return await wsIndex.workspaces(this.#pool, this.#wsTables)
    } catch (err) {
      throw toStoreError(err, 'workspaces')
    }
  }

  /**
   * Whether PostgreSQL answers `SELECT 1` within `timeoutMs` (HTTP-1.1: a node's readiness). One query at a time:
   * a call while one is in flight shares its answer, so a hung database holds at most one connection for it.
   */
  ping(timeoutMs = 1000): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    this.#pinging ??= this.#pool
      .query('SELECT 1')
      .then(
        () => true,
        () => false,
      )
      .finally(() => (this.#pinging = null))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
      timer.unref()
    })
    return Promise.race([this.#pinging, timedOut]).finally(() => clearTimeout(timer))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // Pending appends are committed first (STORE-6.1).
    await this.#drain(null)
    this.#closed = true
    if (this.#ownsPool) await this.#pool.end()
  }

  readonly #table = (name: 'docs' | 'snapshots' | 'updates' | 'meta'): string =>
    `${this.#schema}.weft_${name}`

  get #wsTables(): wsIndex.WorkspaceTables {
    return {
      workspaces: `${this.#schema}.weft_workspaces`,
      docs: `${this.#schema}.weft_workspace_docs`,
      updates: this.#table('updates'),
      snapshots: this.#table('snapshots'),
    }
  }

  async #createSchema(): Promise<void> {
    await this.#transaction('BEGIN', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY])
      for (const sql of schemaStatements(this.#schema)) await c.query(sql)
      const row = await c.query(
        `SELECT version FROM ${this.#schema}.weft_schema WHERE component = 'docstore'`,
      )
      const stored = (row.rows[0] as { version: number } | undefined)?.version
      if (stored === undefined || stored < POSTGRES_SCHEMA_VERSION) {
        // WS-STORE-5.1: version 1 had no workspace index (a new database: nothing to index).
        if (stored === undefined || stored < WORKSPACE_INDEX_SCHEMA_VERSION)
          await wsIndex.indexExisting(c, this.#wsTables, this.#table('docs'))
        // STORE-4.3: version 2 kept meta values as text only; its rows stay text and load as they are.
        if (stored !== undefined && stored < META_BYTES_SCHEMA_VERSION)
          for (const sql of metaBytesStatements(this.#schema)) await c.query(sql)
        await c.query(
          `INSERT INTO ${this.#schema}.weft_schema (component, version) VALUES ('docstore', $1)
           ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
          [POSTGRES_SCHEMA_VERSION],
        )
      } else if (stored > POSTGRES_SCHEMA_VERSION) {
        throw new WeftError(
          WeftErrorCode.StoreFailed,
          `the database holds schema version ${stored}; this server supports up to ${POSTGRES_SCHEMA_VERSION}`,
        )
      }
    })
  }

  /** Every operation: the store is open, its tables exist, and appends queued before it are committed. */
  async #before(docIds: Concerned = null): Promise<void> {
    if (this.#closed) throw new WeftError(WeftErrorCode.Destroyed, 'PostgresDocStore is closed')
    await this.ready()
    await this.#drain(docIds)
    if (this.#closed) throw new WeftError(WeftErrorCode.Destroyed, 'PostgresDocStore is closed')
  }

  /** The stored `epoch` meta of each of `docIds` that has one. */
  async #storedEpochs(c: pg.PoolClient, docIds: readonly DocId[]): Promise<Map<string, string>> {
    const res = await c.query(
      `SELECT doc, value FROM ${this.#table('meta')} WHERE doc = ANY($1::text[]) AND key = $2`,
      [[...docIds], EPOCH_META_KEY],
    )
    const out = new Map<string, string>()
    for (const row of res.rows as Array<{ doc: string; value: unknown }>) {
      if (typeof row.value !== 'string') throw corrupted(row.doc, 'bad metadata row')
      out.set(row.doc, row.value)
    }
    return out
  }

  async #putMeta(c: pg.PoolClient, docId: DocId, key: string, value: string | null): Promise<void> {
    if (value === null)
      await c.query(`DELETE FROM ${this.#table('meta')} WHERE doc = $1 AND key = $2`, [docId, key])
    else {
      // STORE-4.3: text in `value`, or the deflated bytes of an epoch record in `data` (the other one NULL).
      const stored = metaValues.stored(key, value)
      const text = typeof stored === 'string' ? stored : null
      const bytes =
        typeof stored === 'string' ? null : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength)
      await c.query(
        `INSERT INTO ${this.#table('meta')} (doc, key, value, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (doc, key) DO UPDATE SET value = excluded.value, data = excluded.data`,
        [docId, key, text, bytes],
      )
    }
  }

  async #transaction<T>(begin: string, body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect()
    try {
      await c.query(begin)
      const result = await body(c)
      await c.query('COMMIT')
      return result
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      c.release()
    }
  }

  /**
   * Waits until the appends queued now of `docIds` (of every document: `null`) are committed or failed: the batch
   * in flight, the queue, and the lanes of those documents. A lane of another document (a locked or large one) is
   * not waited for (SCALE-1.5).
   */
  async #drain(docIds: Concerned): Promise<void> {
    const concerned = docIds === null || typeof docIds === 'function' ? docIds : new Set<DocId>(docIds)
    for (;;) {
      if (this.#writing) await this.#writing
      else if (this.#appends.size > 0) await this.#flush()
      else {
        const lanes = [...this.#lanes]
          .filter(
            ([doc]) =>
              concerned === null || (typeof concerned === 'function' ? concerned(doc) : concerned.has(doc)),
          )
          .map(([, lane]) => lane.done)
        if (lanes.length === 0) return
        await Promise.all(lanes)
      }
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      if (!this.#writing) void this.#flush()
    })
  }

  /**
   * Commits the queued appends (STORE-2.4, SCALE-1.5): those of a document with a lane, and every append of a
   * document with a large one in the window, go to the document's lane; the rest are one transaction that locks
   * their counter rows without waiting (`SKIP LOCKED`) and commits the documents whose rows it got in one statement
   * ({@link PostgresDocStore.#insert}). A document whose row another transaction holds (a compaction, another node's
   * large append, a `SELECT … FOR UPDATE`) goes to its lane, which waits for the lock alone: a slow, large or locked
   * document delays only its own acknowledgements. Each append resolves once its transaction committed.
   */
  #flush(): Promise<void> {
    const batch = this.#appends.take()
    if (batch.length === 0) return Promise.resolve()
    const apart = new Set<DocId>()
    for (const p of batch)
      if (this.#lanes.has(p.docId) || p.bytes.byteLength >= LARGE_APPEND_BYTES) apart.add(p.docId)
    const main = batch.filter((p) => !apart.has(p.docId))
    this.#inFlight = new Set(main.map((p) => p.docId))
    for (const p of batch) if (apart.has(p.docId)) this.#toLane(p.docId, [p])
    const run = (async () => {
      try {
        await this.ready()
        const busy = await this.#commit(main, true)
        // In call order, ahead of whatever the lane got meanwhile (nothing of these documents was in another lane).
        const grouped = new Map<DocId, PendingAppend<Buffer>[]>()
        for (const p of busy) grouped.set(p.docId, [...(grouped.get(p.docId) ?? []), p])
        for (const [doc, appends] of grouped) this.#toLane(doc, appends, true)
      } catch (err) {
        rejectAppends(main, toStoreError(err, 'append'))
      }
    })()
    this.#writing = run.finally(() => {
      this.#writing = null
      this.#inFlight = new Set()
      if (this.#appends.size > 0 && !this.#closed) this.#schedule()
    })
    return this.#writing
  }

  /** Queues `appends` of `docId` on its lane (in front with `first`) and starts the lane if it is idle. */
  #toLane(docId: DocId, appends: PendingAppend<Buffer>[], first = false): void {
    const lane = this.#lanes.get(docId)
    if (lane) {
      if (first) lane.queue.unshift(...appends)
      else lane.queue.push(...appends)
      return
    }
    const created: Lane = { queue: [...appends], done: Promise.resolve() }
    this.#lanes.set(docId, created)
    created.done = this.#runLane(docId, created)
  }

  /**
   * A document's lane: its appends committed in call order, one transaction at a time, waiting for its row lock
   * if another transaction holds it; at most {@link PostgresDocStore.#laneSlots} lanes write at once (the pool keeps
   * connections for the batches). Ends, and is removed, once its queue is empty.
   */
  async #runLane(docId: DocId, lane: Lane): Promise<void> {
    // Appends of this document in the batch in flight commit first (call order).
    while (this.#writing && this.#inFlight.has(docId)) await this.#writing
    while (this.#laneSlots <= 0) await new Promise<void>((resolve) => this.#laneWaiters.push(resolve))
    this.#laneSlots--
    try {
      for (;;) {
        const batch = lane.queue
        lane.queue = []
        if (batch.length === 0) break
        try {
          await this.ready()
          await this.#commit(batch, false)
        } catch (err) {
          rejectAppends(batch, toStoreError(err, 'append'))
        }
      }
    } finally {
      this.#lanes.delete(docId)
      this.#laneSlots++
      this.#laneWaiters.shift()?.()
    }
  }

  /**
   * Commits `batch` and settles its appends; with `skipLocked`, the appends of documents whose counter row another
   * transaction holds are neither committed nor settled but returned. A batch with epoch-checked appends (STORE-2.5)
   * or meta entries (STORE-2.6) reads the stored epochs after its counter rows are locked (so every compaction that
   * changed them has committed); a mismatch rolls back, refuses those appends and commits the others again (no clock
   * is used by a refused one).
   */
  async #commit(
    batch: readonly PendingAppend<Buffer>[],
    skipLocked: boolean,
  ): Promise<PendingAppend<Buffer>[]> {
    if (batch.length === 0) return []
    const checked = batch.some((p) => p.epoch !== undefined || p.meta !== undefined)
    // The workspace index (WS-STORE-2.1) needs no transaction: one statement is atomic.
    if (!skipLocked && !checked) {
      const clocks = await this.#insert(this.#pool, batch)
      batch.forEach((p, i) => p.resolve(clocks[i] ?? 0))
      return []
    }
    const refused = new Map<PendingAppend, WeftError>()
    for (;;) {
      const result = await this.#transaction('BEGIN', async (c) => {
        let accepted = batch.filter((p) => !refused.has(p))
        let busy: PendingAppend<Buffer>[] = []
        if (skipLocked) {
          const held = await this.#heldElsewhere(c, [...new Set(accepted.map((p) => p.docId))])
          busy = accepted.filter((p) => held.has(p.docId))
          accepted = accepted.filter((p) => !held.has(p.docId))
        }
        const clocks = await this.#insert(c, accepted)
        if (checked) {
          const mismatched = await this.#epochMismatches(c, accepted)
          // Rolled back by #transaction: nothing of this attempt is written, no clock is used.
          if (mismatched.size > 0) throw new RefusedAppends(mismatched)
          for (const p of accepted)
            for (const [key, value] of Object.entries(p.meta ?? {}))
              await this.#putMeta(c, p.docId, key, value)
        }
        return { accepted, clocks, busy }
      }).catch((err: unknown) => {
        if (err instanceof RefusedAppends) return err.refused
        throw err
      })
      if (result instanceof Map) {
        for (const [p, err] of result) refused.set(p, err)
        continue
      }
      for (const [p, err] of refused) p.reject(err)
      result.accepted.forEach((p, i) => p.resolve(result.clocks[i] ?? 0))
      return result.busy
    }
  }

  /**
   * Locks the counter rows of `docIds` that no other transaction holds (in document order, so nodes never
   * deadlock) and returns the documents whose rows another transaction holds (SCALE-1.5). A document without a
   * row yet is not held (its insert waits only for another node inserting it at the same moment).
   */
  async #heldElsewhere(c: pg.PoolClient, docIds: readonly DocId[]): Promise<Set<DocId>> {
    const res = await c.query(
      `SELECT doc, true AS mine FROM (
         SELECT doc FROM ${this.#table('docs')} WHERE doc = ANY($1::text[]) ORDER BY doc FOR UPDATE SKIP LOCKED
       ) AS l
       UNION ALL SELECT doc, false FROM ${this.#table('docs')} WHERE doc = ANY($1::text[])`,
      [[...docIds]],
    )
    const mine = new Set<string>()
    const existing = new Set<string>()
    for (const row of res.rows as Array<{ doc: string; mine: boolean }>)
      (row.mine ? mine : existing).add(row.doc)
    return new Set([...existing].filter((d) => !mine.has(d)) as DocId[])
  }

  /** STORE-2.5: the appends of `batch` whose expected epoch is not the stored one, with their error. */
  async #epochMismatches(
    c: pg.PoolClient,
    batch: readonly PendingAppend[],
  ): Promise<Map<PendingAppend, WeftError>> {
    const checked = [...new Set(batch.filter((p) => p.epoch !== undefined).map((p) => p.docId))]
    const stored = checked.length > 0 ? await this.#storedEpochs(c, checked) : new Map<string, string>()
    const refused = new Map<PendingAppend, WeftError>()
    for (const p of batch) {
      const epoch = stored.get(p.docId) ?? INITIAL_EPOCH
      if (p.epoch === undefined || p.epoch === epoch) continue
      refused.set(p, epochMismatchError('PostgresDocStore', p.docId, epoch, p.epoch))
    }
    return refused
  }

  /**
   * The group-commit statement: inserts `batch` in call order; resolves each append's clock. When `batch` writes
   * documents of workspaces, the same statement advances their sequences (WS-STORE-2.1, 2.3), after it locked the
   * documents' counter rows: one round trip, atomic without a transaction.
   */
  async #insert(q: pg.Pool | pg.PoolClient, batch: readonly PendingAppend[]): Promise<number[]> {
    if (batch.length === 0) return []
    const counts = new Map<DocId, number>()
    const index: number[] = []
    for (const p of batch) {
      const n = (counts.get(p.docId) ?? 0) + 1
      counts.set(p.docId, n)
      index.push(n)
    }
    const t = this.#table
    const ws = wsIndex.workspaceBump(batch.map((p) => p.docId))
    const res = await q.query(
      `WITH bumped AS (
         INSERT INTO ${t('docs')} (doc, clock)
         SELECT d, n FROM unnest($1::text[], $2::bigint[]) AS x(d, n) ORDER BY d
         ON CONFLICT (doc) DO UPDATE SET clock = ${t('docs')}.clock + excluded.clock
         RETURNING doc, clock
       ), counts AS (SELECT d, n FROM unnest($1::text[], $2::bigint[]) AS y(d, n))
       ${ws ? `, ${wsIndex.workspaceBumpSql(this.#wsTables, 6, 'bumped')}` : ''}
       INSERT INTO ${t('updates')} (doc, clock, data)
       SELECT u.doc, b.clock - c.n + u.i, u.data
       FROM unnest($3::text[], $4::bigint[], $5::bytea[]) AS u(doc, i, data)
       JOIN bumped b ON b.doc = u.doc JOIN counts c ON c.d = u.doc
       RETURNING doc, clock`,
      [
        [...counts.keys()],
        [...counts.values()],
        batch.map((p) => p.docId),
        index,
        batch.map((p) => p.bytes),
        ...(ws?.params ?? []),
      ],
    )
    const last = new Map<string, number>()
    for (const row of res.rows as Array<{ doc: string; clock: unknown }>) {
      const clock = clockOf(row.doc, row.clock)
      if (clock > (last.get(row.doc) ?? 0)) last.set(row.doc, clock)
    }
    return batch.map((p, i) => (last.get(p.docId) ?? 0) - (counts.get(p.docId) ?? 0) + (index[i] ?? 0))
  }
}

/** Internal: aborts an epoch-checked batch's transaction (rolled back), carrying the refused appends. */
class RefusedAppends extends Error {
  constructor(readonly refused: Map<PendingAppend, WeftError>) {
    super('epoch-checked appends refused')
  }
}
