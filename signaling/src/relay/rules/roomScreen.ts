import type { RelayPeer, RelayRoom } from '../RelayRoom.js'

/**
 * A writer that can roll back (RULES-5.1): it tells, for each update it handed to the relay, how many `rolled-back`
 * messages it had sent before that update arrived. An update refused by a screen fences the writer: its later
 * updates with the same count are refused without a check, until one arrives after a further `rolled-back`.
 */
export interface RollbackWriter {
  rollbacksBefore(update: Uint8Array): number
}

/** The `rolled-back` count `peer` had sent before `update`; 0 for a writer that cannot roll back. */
export const rollbacksBefore = (peer: RelayPeer, update: Uint8Array): number =>
  'rollbacksBefore' in peer && typeof peer.rollbacksBefore === 'function'
    ? (peer as RollbackWriter).rollbacksBefore(update)
    : 0

/**
 * RULES-5.1, written once for every screen of writes (the room rules, the catalogue guard, WS-ACCESS-3): behind a
 * refusal, a writer's updates are refused unchecked until it says it rolled back.
 */
export class WriterFences {
  /** A fenced writer, and the `rolled-back` count of its refused update. */
  readonly #fences = new WeakMap<RelayPeer, number>()

  /** The writer's `rolled-back` count before `update`, or null when it is fenced (refuse the update unchecked). */
  admit(from: RelayPeer, update: Uint8Array): number | null {
    const rollbacks = rollbacksBefore(from, update)
    const fence = this.#fences.get(from)
    return fence !== undefined && rollbacks <= fence ? null : rollbacks
  }

  /** `from`'s update was refused, sent after `rollbacks` roll-backs: fence it until it rolls back once more. */
  fence(from: RelayPeer, rollbacks: number): void {
    this.#fences.set(from, rollbacks)
  }
}

/**
 * One validating view per loaded room, kept in step with the room (RULES-4.6, WS-ACCESS-4), written once for the room
 * rules and the catalogue guard: a view matches the room's log at a change count; anything the room took another way
 * (another node, an epoch switch, an update refused after the view took it) makes it stale, and a stale view is
 * dropped. A compaction changes no content and no count (RULES-4.10): the view stays. Views are kept with the room
 * object, so they go when the room unloads.
 */
export class RoomViews<V> {
  readonly #views = new WeakMap<RelayRoom, { readonly view: V; changes: number }>()
  readonly #destroy: (view: V) => void

  constructor(destroy: (view: V) => void) {
    this.#destroy = destroy
  }

  /** The room's view if it still matches the room (and is not `unusable`); a stale one is dropped. */
  current(room: RelayRoom, unusable?: (view: V) => boolean): V | null {
    const held = this.#views.get(room)
    if (!held) return null
    if (held.changes === room.log.changes && !unusable?.(held.view)) return held.view
    this.drop(room, held.view)
    return null
  }

  /** `view` was just built from the room's state. */
  set(room: RelayRoom, view: V): V {
    const held = this.#views.get(room)
    if (held && held.view !== view) this.#destroy(held.view)
    this.#views.set(room, { view, changes: room.log.changes })
    return view
  }

  /** Drops `view` (it no longer matches the room); the next check builds one again. */
  drop(room: RelayRoom, view: V): void {
    if (this.#views.get(room)?.view === view) this.#views.delete(room)
    this.#destroy(view)
  }

  /**
   * `view` took the update `accept` stores: calls `accept`; if the room took it into its log exactly once, the view
   * matches the room again; otherwise (refused by the room or a later screen, held by an epoch switch) it holds more
   * than the room and is dropped.
   */
  settle(room: RelayRoom, view: V, accept: () => Promise<void>): Promise<void> {
    const before = room.log.changes
    const durable = accept()
    const held = this.#views.get(room)
    if (held?.view === view && room.log.changes === before + 1) held.changes = room.log.changes
    else this.drop(room, view)
    return durable
  }
}
