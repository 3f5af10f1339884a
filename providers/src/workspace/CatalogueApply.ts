import * as Y from 'yjs'
import { WeftErrorCode, applyStoredDoc, toWeftError, type StoredDoc } from '@weft/core'
import { UpdateSlicer, type UpdatePart } from './sliceUpdate.js'

/**
 * How much of a deferred catalogue apply one task does (WS-CLIENT-8.4), in structs (~9 per catalogue record) cut
 * out of the stored updates, then applied. Chosen by measurement at 10,000 records on a loaded 2-core machine: the
 * longest task between two slices was 26-35 ms of CPU with 1,000, 40-49 ms with 2,000, 50-83 ms with 6,000 (a
 * slice's cost grows faster than its size), the total about the same (docs/guides/workspaces.md, Warm open).
 */
export const CATALOGUE_SLICE = 1000

/** Stored updates at most this large are applied whole, as one part (a few hundred records). */
const WHOLE_BYTES = 16 * 1024

/** The work of applying an update whole, in structs (about 20 bytes each). */
const costOf = (update: Uint8Array): number => Math.max(1, Math.ceil(update.byteLength / 20))

/** A stored update being cut and applied. */
interface Group {
  readonly slicer: UpdateSlicer
  /** Parts not applied yet, by client (struct parts, in order), then deletions. */
  readonly parts: Map<number, UpdatePart[]>
  readonly deletions: UpdatePart[]
}

/**
 * Applies a stored document (its snapshot, then its log's updates in order) to `doc` across several calls of
 * {@link step}, each doing at most about `slice` structs of work (WS-CLIENT-8.4): each stored update is cut into parts
 * of one client's consecutive structs (`UpdateSlicer`), and each part applied in its own transaction with `origin`,
 * quietly (no `update` event, as `applyStoredDoc` does when every `update` listener is in `ignoring`). Parts are
 * applied in an order where the items they refer to are there already when possible (no pending structs to retry);
 * the deletions of an update after its structs. The result is the state one `applyStoredDoc` would give. Throws a
 * `store-corrupted` WeftError when the stored data cannot be decoded. @internal
 */
export class CatalogueApply {
  readonly #doc: Y.Doc
  readonly #origin: unknown
  readonly #ignoring: ReadonlySet<unknown>
  readonly #slice: number
  readonly #pending: Array<{ readonly update: Uint8Array; readonly v2: boolean }>
  #group: Group | null = null
  /** Steps taken so far. */
  steps = 0

  constructor(
    doc: Y.Doc,
    stored: StoredDoc,
    origin: unknown,
    ignoring: ReadonlySet<unknown>,
    slice = CATALOGUE_SLICE,
  ) {
    this.#doc = doc
    this.#origin = origin
    this.#ignoring = ignoring
    this.#slice = Math.max(1, slice)
    this.#pending = [
      ...(stored.snapshot ? [{ update: stored.snapshot, v2: true }] : []),
      ...stored.updates.map((update) => ({ update, v2: false })),
    ]
  }

  /** Whether everything is applied. */
  get done(): boolean {
    return this.#group === null && this.#pending.length === 0
  }

  /** Does one slice of the work; returns whether everything is applied. */
  step(): boolean {
    this.steps++
    let budget = this.#slice
    while (budget > 0 && !this.done) budget -= this.#work(budget)
    return this.done
  }

  /** Does all the work left, now. */
  finish(): void {
    while (!this.done) this.#work(Infinity)
  }

  /** Does up to `budget` structs of work (at least some); returns how much it did. */
  #work(budget: number): number {
    let group = this.#group
    if (!group) {
      const next = this.#pending[0]!
      if (next.update.byteLength <= WHOLE_BYTES) {
        // Small stored updates are applied whole, as many as the budget allows in one transaction.
        let snapshot: Uint8Array | null = null
        const updates: Uint8Array[] = []
        let cost = 0
        for (let u = this.#pending[0]; u && u.update.byteLength <= WHOLE_BYTES; u = this.#pending[0]) {
          const c = costOf(u.update)
          if (cost > 0 && cost + c > budget) break
          this.#pending.shift()
          if (u.v2) snapshot = u.update
          else updates.push(u.update)
          cost += c
        }
        this.#applyStored(snapshot, updates)
        return cost
      }
      this.#pending.shift()
      group = this.#group = {
        slicer: new UpdateSlicer(next.update, next.v2, this.#slice),
        parts: new Map(),
        deletions: [],
      }
    }
    const slicer = group.slicer
    if (!slicer.done) {
      const read = slicer.read
      let parts: UpdatePart[]
      try {
        parts = slicer.step(budget)
      } catch (err) {
        throw toWeftError(WeftErrorCode.StoreCorrupted, err, 'cannot decode the stored catalogue')
      }
      for (const part of parts) {
        if (part.deletions) group.deletions.push(part)
        else {
          const queue = group.parts.get(part.client)
          if (queue) queue.push(part)
          else group.parts.set(part.client, [part])
        }
      }
      return Math.max(1, slicer.read - read)
    }
    const part = this.#next(group)
    if (!part) {
      this.#group = null
      return 1
    }
    this.#applyStored(part.update, [])
    return Math.max(1, part.count)
  }

  /** The next part of `group` to apply: one whose references are there, else the first left; deletions last. */
  #next(group: Group): UpdatePart | undefined {
    let first: UpdatePart[] | undefined
    for (const [client, queue] of group.parts) {
      const head = queue[0]
      if (!head) {
        group.parts.delete(client)
        continue
      }
      first ??= queue
      let ready = true
      for (const [c, clock] of head.needs)
        if (Y.getState(this.#doc.store, c) < clock) {
          ready = false
          break
        }
      if (ready) return queue.shift()
    }
    if (first) return first.shift()
    return group.deletions.shift()
  }

  #applyStored(snapshot: Uint8Array | null, updates: Uint8Array[]): void {
    const byteLength = updates.reduce((n, u) => n + u.byteLength, snapshot?.byteLength ?? 0)
    const stored: StoredDoc = { snapshot, updates, clock: 0, byteLength, meta: {} }
    applyStoredDoc(this.#doc, stored, this.#origin, this.#ignoring)
  }
}
