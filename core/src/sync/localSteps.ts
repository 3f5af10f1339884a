import * as Y from 'yjs'

/**
 * The writer's local steps (docs/spec/rules.md, RULES-5.16): each local transaction of the document's client id, so
 * that a rollback can take a refused record back to the state it had at the end of the writer's previous step (what
 * the user saw before the refused change) instead of what the relay holds, when updates merged several steps (a sync
 * step 2 of offline work, a restoring update) or a later update overwrote a value that was never at the relay.
 */

/** Yjs's delete set (not exported by name). */
type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/** One local transaction of a client id: the client's clock when it began, and what it deleted. */
export interface LocalStep {
  readonly clock: number
  readonly ds: DeleteSet
}

/** The index of the last step that began at or before `clock` (the step that wrote it), or -1. */
export const stepAt = (steps: readonly LocalStep[], clock: number): number => {
  let lo = 0
  let hi = steps.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((steps[mid] as LocalStep).clock <= clock) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

/** A copy of a delete set (its ranges are fresh records). */
export const copyDeleteSet = (ds: DeleteSet): DeleteSet => {
  const out = Y.createDeleteSet()
  for (const [client, ranges] of ds.clients)
    // Yjs's DeleteItem is a plain { clock, len } record.
    out.clients.set(client, ranges.map((r) => ({ clock: r.clock, len: r.len })) as typeof ranges)
  return out
}

/**
 * The most steps kept (RULES-5.16). A session whose changes nobody acknowledges (no relay, no acking peer) would
 * otherwise keep one per transaction forever; past it the oldest go, and a rollback counts their changes as one step
 * before the first it knows (their deletions as no step's: refused with the record).
 */
export const MAX_LOCAL_STEPS = 4096

/**
 * Records the local steps of a document's current client id while any may still be refused: `record` each local
 * transaction, `prune` the steps whose items the relay acknowledged. A new client id starts a new record.
 */
export class LocalSteps {
  #client: number | null = null
  #steps: LocalStep[] = []

  /** Records `tr` (a local transaction) as a step of `client` if it inserted items of that client or deleted any. */
  record(tr: Y.Transaction, client: number): void {
    if (this.#client !== client) this.replace(client, [])
    const clock = tr.beforeState.get(client) ?? 0
    const inserted = (tr.afterState.get(client) ?? 0) > clock
    if (!inserted && tr.deleteSet.clients.size === 0) return
    this.#steps.push({ clock, ds: copyDeleteSet(tr.deleteSet) })
    if (this.#steps.length > MAX_LOCAL_STEPS) this.#steps.splice(0, this.#steps.length - MAX_LOCAL_STEPS)
  }

  /** The recorded steps of `client` in order (empty for another client id). */
  of(client: number): readonly LocalStep[] {
    return this.#client === client ? this.#steps : []
  }

  /** The steps of `client` are `steps` (a rollback's restoring transactions under the new client id). */
  replace(client: number, steps: readonly LocalStep[]): void {
    this.#client = client
    this.#steps = [...steps]
  }

  /**
   * Forgets the steps of `client` that ended below `clock` (the relay acknowledged their items; the last step is
   * kept, as the next one has not begun). Their deletions are acknowledged with them (updates are acknowledged in
   * order).
   */
  prune(client: number, clock: number): void {
    if (this.#client !== client) return
    let drop = 0
    while (drop + 1 < this.#steps.length && (this.#steps[drop + 1] as LocalStep).clock <= clock) drop++
    if (drop > 0) this.#steps.splice(0, drop)
  }
}
