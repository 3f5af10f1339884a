import { ObservableV2 } from 'lib0/observable'
import * as Y from 'yjs'
import { requireYDoc } from '../requireYDoc.js'
import { ConflictLog, type ConflictEntry } from './ConflictLog.js'
import type { RootField, RootFields, Schema } from './defineSchema.js'
import type {
  CollectionField,
  Fields,
  ListField,
  RecordField,
  RichTextField,
  TextField,
  ValueField,
} from './fields.js'
import type { RecordPatch, RecordStep } from './migration.js'
import {
  META_NAME,
  applyPatch,
  documentVersion,
  migrateRecord,
  planMigration,
  recordSteps,
  type RecordSkip,
} from './migrate.js'
import { readCollection, readList, readRecord, type ReadEnv } from './readRecord.js'
import { readRegister, writeRegister } from './register.js'
import type { Runtime } from './Runtime.js'
import { TypedCollection } from './TypedCollection.js'
import { TypedList } from './TypedList.js'
import { TypedRecord } from './TypedRecord.js'
import type { Infer, InvalidEvent, PathSegment, SharedType, WriteFailure, WriteResult } from './types.js'
import { checkValue, fail } from './writeRecord.js'

/** Origin of the transactions that migrate data (never tracked by undo managers). */
export const MIGRATION_ORIGIN: unique symbol = Symbol('weft.schema.migration')
/** Origin of Weft's bookkeeping transactions (conflict log). */
export const SYSTEM_ORIGIN: unique symbol = Symbol('weft.schema.system')

/**
 * - `ready`: reads and writes work.
 * - `upgrade-required`: the document's schema version is newer than this app's: read-only, writes refused.
 * - `wrong-schema`: the document was written with another schema name: read-only.
 * - `migration-failed`: a migration step threw: nothing was written, read-only (see `migrationError`).
 */
export type TypedDocStatus = 'ready' | 'upgrade-required' | 'wrong-schema' | 'migration-failed'

/** What migrating wrote: at open (`remote: false`) or when old-version data arrived from a peer (`remote: true`). */
export interface MigrationReport {
  /** Migration ids newly marked applied. */
  readonly applied: readonly string[]
  /** Records changed by record steps. */
  readonly records: number
  /**
   * Records a record step could not migrate (it threw, or its patch held a value Yjs cannot store as it is): left
   * as they are and reported through `invalid` (SCHEMA-4.9).
   */
  readonly skipped: number
  /** Whether this migrated data that arrived from a peer after opening. */
  readonly remote: boolean
}

/** What opening reports for a new document left unmarked (`markLater`): nothing migrated yet. */
const UNMARKED: MigrationReport = { applied: [], records: 0, skipped: 0, remote: false }

/** Events of a {@link TypedDoc}. */
export interface TypedDocEvents {
  /** Stored data does not match the schema (reported once per path and value). */
  invalid: (event: InvalidEvent) => void
  /** The status changed (e.g. a peer migrated the document past this app's version). */
  status: (event: { readonly status: TypedDocStatus; readonly documentVersion: number }) => void
  /** Conflicts were added to the conflict log (by this peer or another). */
  conflict: (event: { readonly added: readonly ConflictEntry[] }) => void
  /** Data was migrated. */
  migrated: (event: MigrationReport) => void
}

/** Options of {@link openTyped}. */
export interface OpenTypedOptions {
  /** Origin of this app's writes through the typed API (default `null`, which `Y.UndoManager` tracks). */
  readonly origin?: unknown
  /** Registered before the initial validation, so violations found while opening are reported too. */
  readonly onInvalid?: (event: InvalidEvent) => void
  /**
   * Do not mark a new document (one with no schema mark) at open: nothing is written until
   * {@link TypedDoc.migrate}, to call once the document has synced (default false). A replica joining a document
   * others created then writes nothing (its mark would be a concurrent write of the marks every replica holds). A
   * document holding marks is migrated and marked at open as always.
   */
  readonly markLater?: boolean
}

/** Options of {@link TypedDoc.undoManager}. */
export interface TypedUndoOptions {
  /** Merge changes made within this many ms into one undo step (Yjs default 500). */
  readonly captureTimeout?: number
  /** Further origins to track besides the typed document's own. */
  readonly trackedOrigins?: readonly unknown[]
}

/** The handle for a root entry: typed record, collection or list; text and rich text as the live Yjs types. */
export type RootHandle<F> =
  F extends RecordField<infer Fs>
    ? TypedRecord<Fs, never>
    : F extends CollectionField<RecordField<infer Fs>>
      ? TypedCollection<Fs>
      : F extends ListField<infer I>
        ? TypedList<I>
        : F extends TextField
          ? Y.Text
          : F extends RichTextField
            ? Y.XmlFragment
            : never

/** Handles for every root entry. */
export type RootHandles<Root extends RootFields> = { readonly [K in keyof Root]: RootHandle<Root[K]> }

/** What an undo manager's scope may name. */
export type UndoScopeItem<Root extends RootFields> =
  | (keyof Root & string)
  | { readonly ymap: Y.Map<unknown>; readonly path: readonly PathSegment[] }
  | { readonly yarray: Y.Array<unknown> }
  | SharedType

/**
 * A Y.Doc seen through a schema: typed reads that never throw, checked writes, typed observation, migrations,
 * versions, and the conflict log. Create with {@link openTyped}.
 */
export class TypedDoc<S extends Schema> extends ObservableV2<TypedDocEvents> implements Runtime {
  /** The underlying document. */
  readonly doc: Y.Doc
  /** The schema. */
  readonly schema: S
  /** Origin of this app's writes. */
  readonly origin: unknown
  /** Origin of the conflict log's writes. */
  readonly systemOrigin: unknown = SYSTEM_ORIGIN
  /** Typed handles for the root entries. */
  readonly root: RootHandles<S['root']>
  /** Values that lost concurrent writes to `.keepConflicts()` fields. */
  readonly conflicts: ConflictLog
  /** What opening migrated (`undefined` when the document was read-only). */
  readonly migration: MigrationReport | undefined
  /** The error of the migration step that failed (status `migration-failed`). */
  readonly migrationError: { readonly migrationId: string; readonly error: unknown } | undefined
  readonly #meta: Y.Map<unknown>
  readonly #steps: ReadonlyMap<string, RecordStep>
  readonly #reported = new Map<string, unknown>()
  readonly #unsubscribes: Array<() => void> = []
  /** Reads for reporting (at open, on remote changes): every violation of a record, not just the first. */
  readonly #reportAll: ReadEnv
  #status: TypedDocStatus = 'ready'
  #refusal: WriteFailure | undefined

  /** Use {@link openTyped}. */
  constructor(doc: Y.Doc, schema: S, options: OpenTypedOptions = {}) {
    super()
    this.doc = requireYDoc(doc, 'openTyped(doc)')
    this.#reportAll = { doc, all: true, report: (path, value, reason) => this.report(path, value, reason) }
    this.schema = schema
    this.origin = options.origin ?? null
    if (options.onInvalid) this.on('invalid', options.onInvalid)
    this.#meta = doc.getMap(META_NAME)
    this.#steps = recordSteps(schema)
    this.conflicts = new ConflictLog(this)
    const root: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(schema.root)) root[key] = this.#handle(key, field)
    this.root = root as RootHandles<S['root']>

    this.#refreshStatus(false)
    // A new document (no schema mark) with `markLater`: nothing written until migrate()
    const later = options.markLater === true && this.#meta.size === 0
    const done = later ? { migration: UNMARKED } : this.#migrateNow()
    this.migration = done.migration
    this.migrationError = done.migrationError
    this.#scan()
    this.#listen()
  }

  /**
   * Migrates and marks the document now, as opening does (SCHEMA-4): runs the migrations not applied yet and writes
   * the schema's name and version where they are missing; writes nothing when the document already holds them
   * (another replica's marks, synced). For a document opened with `markLater`, call it once the document has
   * synced. Returns what it migrated (`undefined` when the document is read-only: newer or another schema; see
   * `migrationError` and `status` when a step failed).
   */
  migrate(): MigrationReport | undefined {
    if (this.#status !== 'ready') return undefined
    const done = this.#migrateNow()
    const self = this as {
      migration: MigrationReport | undefined
      migrationError: TypedDoc<S>['migrationError']
    }
    self.migration = done.migration
    self.migrationError = done.migrationError
    if (done.migrationError)
      this.emit('status', [{ status: this.#status, documentVersion: this.documentVersion }])
    return done.migration
  }

  #migrateNow(): {
    migration: MigrationReport | undefined
    migrationError?: TypedDoc<S>['migrationError']
  } {
    const doc = this.doc
    let migration: MigrationReport | undefined
    let migrationError: TypedDoc<S>['migrationError']
    if (this.#status === 'ready') {
      let plan = planMigration(this.schema, doc, this.#steps)
      if (plan.ok && plan.changes) {
        const apply = plan.apply
        try {
          doc.transact(apply, MIGRATION_ORIGIN)
        } catch (error) {
          // not expected (every value is checked while planning); never let it escape the open
          plan = { ok: false, migrationId: '(writing the migration)', error }
        }
      }
      if (plan.ok) {
        for (const skip of plan.skipped) this.report(skip.path, skip.value, skip.reason)
        migration = {
          applied: plan.applied,
          records: plan.records,
          skipped: plan.skipped.length,
          remote: false,
        }
      } else {
        migrationError = { migrationId: plan.migrationId, error: plan.error }
        this.#status = 'migration-failed'
        this.#refresh()
      }
    }
    return { migration, migrationError }
  }

  /** The current status; writes are refused unless `ready`. */
  get status(): TypedDocStatus {
    return this.#status
  }

  /** Whether writes through the typed API are accepted. */
  get writable(): boolean {
    return this.#refusal === undefined
  }

  /** Why writes are refused right now, or `undefined`. */
  get refusal(): WriteFailure | undefined {
    return this.#refusal
  }

  /** The document's schema version (the highest any peer marked; 0 for a new document). */
  get documentVersion(): number {
    return documentVersion(this.#meta)
  }

  /** The whole document as read through the schema (invalid records and items left out). */
  value(): Infer<S> {
    return this.#read(this) as Infer<S>
  }

  /** Validates the whole document; returns every violation (and reports new ones through `invalid`). */
  validate(): InvalidEvent[] {
    const found: InvalidEvent[] = []
    this.#read({
      doc: this.doc,
      all: true,
      report: (path, value, reason) => {
        found.push({ path, value, reason })
        this.report(path, value, reason)
      },
    })
    return found
  }

  /** Runs `fn` in one transaction (one update, one undo step) with `origin` (default: this app's origin). */
  transact<T>(fn: () => T, origin: unknown = this.origin): T {
    let result: T | undefined
    this.doc.transact(() => {
      result = fn()
    }, origin)
    return result as T
  }

  /**
   * A `Y.UndoManager` over parts of the document: root keys (a root record includes its text, list and nested
   * fields) or typed handles. Tracks this app's origin; migrations and other peers' changes are never undone.
   */
  undoManager(scope: ReadonlyArray<UndoScopeItem<S['root']>>, options: TypedUndoOptions = {}): Y.UndoManager {
    const types: Array<SharedType> = []
    const addStatic = (name: string): void => {
      for (const [n, c] of this.schema.statics)
        if (n === name || n.startsWith(`${name}.`)) types.push(this.#typeOf(n, c.field))
    }
    for (const item of scope) {
      if (typeof item === 'string') addStatic(item)
      else if (item instanceof Y.AbstractType) types.push(item as SharedType)
      else if ('yarray' in item) types.push(item.yarray)
      else if (this.schema.statics.has(item.path.join('.'))) addStatic(item.path.join('.'))
      else types.push(item.ymap)
    }
    const undo = new Y.UndoManager(types, {
      trackedOrigins: new Set([this.origin, ...(options.trackedOrigins ?? [])]),
      ...(options.captureTimeout === undefined ? {} : { captureTimeout: options.captureTimeout }),
    })
    return undo
  }

  /** Stops observing the document (the Y.Doc itself is left as it is). */
  override destroy(): void {
    for (const u of this.#unsubscribes.splice(0)) u()
    super.destroy()
  }

  // ---- Runtime (used by handles) ----

  /** @internal Reports a violation once per path and value. */
  report(path: readonly PathSegment[], value: unknown, reason: string): void {
    const key = JSON.stringify(path)
    if (this.#reported.has(key) && Object.is(this.#reported.get(key), value)) return
    this.#reported.set(key, value)
    this.emit('invalid', [{ path, value, reason }])
  }

  /** @internal */
  refExists(collection: string, id: string): boolean {
    return this.doc.getMap(collection).get(id) instanceof Y.Map
  }

  /** @internal */
  writeValue(
    map: Y.Map<unknown>,
    key: string,
    def: ValueField<unknown, boolean>,
    value: unknown,
    path: readonly PathSegment[],
  ): void {
    if (!def.keepsConflicts) {
      map.set(key, value)
      return
    }
    const state = readRegister(map, key, (v) => def.test(v))
    if (state.visible.length > 1) this.conflicts.record([...path, key], state.visible)
    writeRegister(map, key, value, this.doc.clientID, state)
  }

  /** @internal Writes a plain value at a field path (used to restore a conflict's losing value). */
  writeAt(path: readonly PathSegment[], value: unknown): WriteResult {
    const target = this.#locate(path)
    if (!target) return fail('not-found', `${path.join('.')} does not exist`, path)
    const f = checkValue(this, target.def, value, path)
    if (f) return f
    this.transact(() => this.writeValue(target.map, target.key, target.def, value, path.slice(0, -1)))
    return { ok: true }
  }

  // ---- internals ----

  #typeOf(name: string, field: RootField): SharedType {
    switch (field.kind) {
      case 'text':
        return this.doc.getText(name)
      case 'richText':
        return this.doc.getXmlFragment(name)
      case 'list':
        return this.doc.getArray(name)
      default:
        return this.doc.getMap(name)
    }
  }

  #handle(key: string, field: RootField): unknown {
    switch (field.kind) {
      case 'record':
        return new TypedRecord(this, this.doc.getMap(key), field, [], key, key)
      case 'collection':
        return new TypedCollection(this, this.doc.getMap(key), field.record, [key])
      case 'list':
        return new TypedList(this, this.doc.getArray(key), field.item, [key])
      case 'text':
        return this.doc.getText(key)
      case 'richText':
        return this.doc.getXmlFragment(key)
    }
  }

  #read(env: ReadEnv): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(this.schema.root)) {
      switch (field.kind) {
        case 'record':
          out[key] = readRecord(env, this.doc.getMap(key), field, [key], undefined, key, {})
          break
        case 'collection':
          out[key] = readCollection(env, this.doc.getMap(key), field.record, [key])
          break
        case 'list':
          out[key] = readList(env, this.doc.getArray(key), field.item, [key])
          break
        case 'text':
          out[key] = this.doc.getText(key)
          break
        case 'richText':
          out[key] = this.doc.getXmlFragment(key)
          break
      }
    }
    return out
  }

  #refreshStatus(emit: boolean): void {
    const before = this.#status
    if (before !== 'migration-failed') {
      const name = this.#meta.get('name')
      this.#status =
        typeof name === 'string' && name !== this.schema.name
          ? 'wrong-schema'
          : this.documentVersion > this.schema.version
            ? 'upgrade-required'
            : 'ready'
    }
    this.#refresh()
    if (emit && before !== this.#status)
      this.emit('status', [{ status: this.#status, documentVersion: this.documentVersion }])
  }

  #refresh(): void {
    const v = this.documentVersion
    this.#refusal =
      this.#status === 'ready'
        ? undefined
        : this.#status === 'upgrade-required'
          ? fail(
              'upgrade-required',
              `the document uses ${this.schema.name} v${v}; this app knows v${this.schema.version}`,
            )
          : fail('read-only', `the document is read-only here (${this.#status})`)
  }

  /** Initial pass: conflicts in the log, violations reported. */
  #scan(): void {
    for (const [name, c] of this.schema.statics) {
      if (c.field.kind === 'record') this.#check(this.doc.getMap(name), c.field, name.split('.'))
      else if (c.field.kind === 'collection' && c.field.record.conflictKeys.length > 0) {
        for (const [id, map] of this.doc.getMap(name).entries()) {
          if (map instanceof Y.Map)
            this.#checkConflicts(map as Y.Map<unknown>, c.field.record, [...name.split('.'), id])
        }
      }
    }
    this.#read(this.#reportAll)
  }

  #listen(): void {
    const onMeta = (): void => this.#refreshStatus(true)
    this.#meta.observe(onMeta)
    this.#unsubscribes.push(() => this.#meta.unobserve(onMeta))
    this.#unsubscribes.push(this.conflicts.observe((added) => this.emit('conflict', [{ added }])))
    for (const [name, c] of this.schema.statics) {
      const field = c.field
      if (field.kind !== 'record' && field.kind !== 'collection') continue
      const map = this.doc.getMap<unknown>(name)
      const handler = (events: Array<Y.YEvent<SharedType>>, tr: Y.Transaction): void => {
        if (tr.local) return
        const path = name.split('.')
        if (field.kind === 'record') return this.#onRemote(name, [[map, field, path]])
        const touched = new Map<string, Y.Map<unknown>>()
        for (const e of events) {
          const ids =
            e.target === map && e instanceof Y.YMapEvent
              ? [...(e.keysChanged as Set<string>)]
              : typeof e.path[0] === 'string'
                ? [e.path[0]]
                : []
          for (const id of ids) {
            const rec = map.get(id)
            if (rec instanceof Y.Map) touched.set(id, rec as Y.Map<unknown>)
          }
        }
        this.#onRemote(
          name,
          [...touched].map(([id, rec]) => [rec, field.record, [...path, id]] as const),
        )
      }
      map.observeDeep(handler)
      this.#unsubscribes.push(() => map.unobserveDeep(handler))
    }
  }

  /** Remote changes: migrate old-version data, log conflicts, report violations. */
  #onRemote(
    name: string,
    records: ReadonlyArray<readonly [Y.Map<unknown>, RecordField<Fields>, PathSegment[]]>,
  ): void {
    const step = this.#steps.get(name)
    if (step && this.writable) {
      const patches: Array<[Y.Map<unknown>, RecordPatch]> = []
      const skipped: RecordSkip[] = []
      for (const [map, , path] of records) {
        const result = migrateRecord(step, map, path)
        if ('skip' in result) skipped.push(result.skip)
        else if (result.patch) patches.push([map, result.patch])
      }
      if (patches.length > 0) {
        try {
          this.doc.transact(() => {
            for (const [map, p] of patches) applyPatch(map, p)
          }, MIGRATION_ORIGIN)
        } catch (err) {
          // not expected (every value is checked first); never let it escape into the peer's applyUpdate
          const reason = `writing the migration failed: ${err instanceof Error ? err.message : String(err)}`
          this.report([name], undefined, reason)
        }
      }
      for (const skip of skipped) this.report(skip.path, skip.value, skip.reason)
      if (patches.length > 0 || skipped.length > 0)
        this.emit('migrated', [
          { applied: [], records: patches.length, skipped: skipped.length, remote: true },
        ])
    }
    for (const [map, def, path] of records) this.#check(map, def, path)
  }

  #check(map: Y.Map<unknown>, def: RecordField<Fields>, path: PathSegment[]): void {
    this.#checkConflicts(map, def, path)
    readRecord(
      this.#reportAll,
      map,
      def,
      path,
      undefined,
      this.schema.statics.has(path.join('.')) ? path.join('.') : undefined,
      {},
    )
  }

  #checkConflicts(map: Y.Map<unknown>, def: RecordField<Fields>, path: readonly PathSegment[]): void {
    if (!this.writable) return
    for (const key of def.conflictKeys) {
      const field = def.fields[key] as ValueField<unknown, boolean>
      const state = readRegister(map, key, (v) => field.test(v))
      if (state.visible.length > 1) this.conflicts.record([...path, key], state.visible)
    }
  }

  #locate(
    path: readonly PathSegment[],
  ): { map: Y.Map<unknown>; key: string; def: ValueField<unknown, boolean> } | undefined {
    for (let i = path.length - 1; i > 0; i--) {
      const c = this.schema.statics.get(path.slice(0, i).join('.'))
      if (!c) continue
      const rest = path.slice(i)
      const container = this.doc.getMap<unknown>(path.slice(0, i).join('.'))
      const [map, def, key] =
        c.field.kind === 'record' && rest.length === 1
          ? [container, c.field, rest[0]]
          : c.field.kind === 'collection' && rest.length === 2
            ? [container.get(String(rest[0])), c.field.record, rest[1]]
            : [undefined, undefined, undefined]
      const field = def?.field(String(key))
      if (map instanceof Y.Map && field?.kind === 'value')
        return { map: map as Y.Map<unknown>, key: String(key), def: field }
      return undefined
    }
    return undefined
  }
}

/**
 * Opens `doc` through `schema`. Migrates the document if it is at an older version (in one transaction; a step
 * that throws leaves it untouched and the result read-only), opens it read-only when it is newer
 * (`status: 'upgrade-required'`), logs conflicts found, and reports violations (pass `onInvalid` to hear those found
 * while opening). Open it once the local store and first sync have loaded, so that document-level migration steps
 * see the data (record steps also migrate data that arrives later). Throws `WeftError` (`invalid-argument`) for a
 * `doc` that is no Y.Doc of the yjs copy Weft uses (two copies of yjs loaded).
 */
export const openTyped = <S extends Schema>(
  doc: Y.Doc,
  schema: S,
  options: OpenTypedOptions = {},
): TypedDoc<S> => new TypedDoc(doc, schema, options)
