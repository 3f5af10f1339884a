import type * as Y from 'yjs'
import { RESERVED_PREFIX } from './defineSchema.js'
import type { RegisterEntry } from './register.js'
import type { PathSegment, WriteFailure, WriteResult } from './types.js'
import { fail } from './writeRecord.js'

/** Name of the top-level Y.Map holding the conflict log. */
export const CONFLICTS_NAME = `${RESERVED_PREFIX}.conflicts`
/** Name of the top-level Y.Map holding the ids of resolved conflicts (a grow-only set). */
export const RESOLVED_NAME = `${RESERVED_PREFIX}.resolved`

/** A value that lost a concurrent write to a `.keepConflicts()` field. */
export interface ConflictEntry {
  /** Stable id, the same on every peer. */
  readonly id: string
  /** The field, from the root key (`['shapes', id, 'price']`). */
  readonly path: readonly PathSegment[]
  /** The value that lost. */
  readonly value: unknown
  /** The value that won, as the peer that logged the conflict saw it. */
  readonly winner: unknown
  /** The Yjs clientID that wrote the losing value. */
  readonly writer: number
  /** The losing write's Lamport counter. */
  readonly clock: number
}

/** Options of {@link ConflictLog.resolve}. */
export interface ResolveOptions {
  /** Write the losing value back into the field (checked against the schema) before marking it resolved. */
  readonly restore?: boolean
}

/** What the log needs from its typed document. */
export interface ConflictLogHost {
  readonly doc: Y.Doc
  readonly refusal: WriteFailure | undefined
  /** Origin for the log's own writes (not tracked by undo managers). */
  readonly systemOrigin: unknown
  /** Writes `value` at `path` through the schema. */
  writeAt(path: readonly PathSegment[], value: unknown): WriteResult
}

const isPath = (p: unknown): p is PathSegment[] =>
  Array.isArray(p) && p.every((s) => typeof s === 'string' || typeof s === 'number')

/**
 * The per-document log of values that lost concurrent writes to `.keepConflicts()` fields. Entries have
 * deterministic ids, so peers that detect the same conflict write the same entry; resolving adds the id to a
 * grow-only set, so a resolution is never undone by a late detection.
 */
export class ConflictLog {
  readonly #host: ConflictLogHost
  readonly #log: Y.Map<unknown>
  readonly #resolved: Y.Map<unknown>

  /** Created by the typed document. */
  constructor(host: ConflictLogHost) {
    this.#host = host
    this.#log = host.doc.getMap(CONFLICTS_NAME)
    this.#resolved = host.doc.getMap(RESOLVED_NAME)
  }

  /** Unresolved conflicts, oldest write first. Malformed entries (from a misbehaving peer) are skipped. */
  list(): ConflictEntry[] {
    const out: ConflictEntry[] = []
    for (const [id, raw] of this.#log.entries()) {
      if (this.#resolved.has(id)) continue
      const e = this.#parse(id, raw)
      if (e) out.push(e)
    }
    return out.sort((a, b) => a.clock - b.clock || a.writer - b.writer)
  }

  /** The entry `id`, resolved or not. */
  get(id: string): ConflictEntry | undefined {
    return this.#parse(id, this.#log.get(id))
  }

  /** Marks conflict `id` resolved (and with `restore`, first writes its losing value back). */
  resolve(id: string, options: ResolveOptions = {}): WriteResult {
    if (this.#host.refusal) return this.#host.refusal
    const entry = this.get(id)
    if (!entry) return fail('not-found', `no conflict "${id}"`)
    let result: WriteResult = { ok: true }
    this.#host.doc.transact(() => {
      if (options.restore) result = this.#host.writeAt(entry.path, entry.value)
      if (result.ok) this.#resolved.set(id, true)
    })
    return result
  }

  /** Calls `listener` with conflicts newly added to the log (by any peer). Returns the unsubscribe function. */
  observe(listener: (added: readonly ConflictEntry[]) => void): () => void {
    const handler = (e: Y.YMapEvent<unknown>): void => {
      const added: ConflictEntry[] = []
      for (const [id, change] of e.changes.keys) {
        if (change.action !== 'add') continue
        const entry = this.get(id)
        if (entry) added.push(entry)
      }
      if (added.length > 0) listener(added)
    }
    this.#log.observe(handler)
    return () => this.#log.unobserve(handler)
  }

  /** Logs every visible entry but the winner (`visible[0]`). Writes nothing when read-only. */
  record(path: readonly PathSegment[], visible: readonly RegisterEntry[]): void {
    const winner = visible[0]
    if (this.#host.refusal || !winner) return
    const fresh = visible.slice(1).filter((l) => {
      const id = JSON.stringify([...path, l.client, l.n])
      return !this.#log.has(id) && !this.#resolved.has(id)
    })
    if (fresh.length === 0) return
    this.#host.doc.transact(() => {
      for (const l of fresh) {
        this.#log.set(JSON.stringify([...path, l.client, l.n]), {
          path: [...path],
          value: l.v,
          winner: winner.v,
          writer: l.client,
          clock: l.n,
        })
      }
    }, this.#host.systemOrigin)
  }

  #parse(id: string, raw: unknown): ConflictEntry | undefined {
    if (typeof raw !== 'object' || raw === null) return undefined
    const e = raw as Record<string, unknown>
    if (!isPath(e.path) || typeof e.writer !== 'number' || typeof e.clock !== 'number') return undefined
    return { id, path: e.path, value: e.value, winner: e.winner, writer: e.writer, clock: e.clock }
  }
}
