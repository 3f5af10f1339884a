import { readAwarenessEntries, type AwarenessEntry } from '@weft/core'
import { encodeAwarenessEntries, type AwarenessTable } from '../relay/AwarenessTable.js'

interface RemoteClient {
  readonly node: string
  clock: number
  /** The owner object under which the client is recorded in the room's {@link AwarenessTable}. */
  readonly owner: object
}

/** What {@link RoomPresence} needs from its room. */
export interface RoomPresenceHost {
  /** The room's presence table (shared with its local connections). */
  readonly table: AwarenessTable
  /** Sends an awareness update to the room's local connections. */
  broadcastLocal(update: Uint8Array): void
  /** Publishes an awareness update of local clients to the other nodes. */
  publish(update: Uint8Array): void
}

const entryOf = (e: AwarenessEntry): readonly [number, number, string] => [
  e.clientID,
  e.clock,
  JSON.stringify(e.state),
]

/**
 * Presence of one room across nodes (SCALE-3). Remote clients enter the room's {@link AwarenessTable} under one
 * owner object per (node, client), so that they can all be removed when their node dies, at their current clock
 * (y-protocols' rule for remote clients), which makes every local client drop them at once: no ghost cursors.
 * Local presence goes out to the other nodes; echoes of remote presence by local stock clients (they re-send every
 * change they receive) are recognised by their clock and not published back.
 */
export class RoomPresence {
  readonly #host: RoomPresenceHost
  readonly #remote = new Map<number, RemoteClient>()

  constructor(host: RoomPresenceHost) {
    this.#host = host
  }

  /** Clients of other nodes with a present or removed state. */
  get remoteCount(): number {
    return this.#remote.size
  }

  /** A local awareness broadcast (already validated and applied by the connection): publish what is local. */
  fromLocal(update: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = readAwarenessEntries(update)
    } catch {
      return
    }
    const local = entries.filter((e) => {
      const remote = this.#remote.get(e.clientID)
      if (remote && remote.clock >= e.clock) return false
      // A client at a newer clock from a local connection now lives here.
      if (remote) this.#remote.delete(e.clientID)
      return true
    })
    if (local.length === entries.length) this.#host.publish(update)
    else if (local.length > 0) this.#host.publish(encodeAwarenessEntries(local.map(entryOf)))
  }

  /** Presence from another node: recorded under that node, then sent to the local connections. */
  fromRemote(node: string, update: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = readAwarenessEntries(update)
    } catch {
      return
    }
    for (const e of entries) {
      let client = this.#remote.get(e.clientID)
      if (!client || client.node !== node) {
        client = { node, clock: e.clock, owner: {} }
        this.#remote.set(e.clientID, client)
      }
      client.clock = Math.max(client.clock, e.clock)
      try {
        this.#host.table.apply(encodeAwarenessEntries([entryOf(e)]), client.owner)
      } catch {
        // Validated by the origin node; a state we cannot record is still forwarded below.
      }
    }
    this.#host.broadcastLocal(update)
  }

  /** Presence of this node's own clients, to answer another node's query; `null` if none. */
  localPresence(): Uint8Array | null {
    const all = this.#host.table.encodeAll()
    if (!all) return null
    const local = readAwarenessEntries(all).filter((e) => !this.#remote.has(e.clientID))
    return local.length > 0 ? encodeAwarenessEntries(local.map(entryOf)) : null
  }

  /** `node` died or left: its clients are removed and the removal is sent to the local connections. */
  nodeDown(node: string): void {
    for (const [id, client] of this.#remote) {
      if (client.node !== node) continue
      this.#remote.delete(id)
      const removal = this.#host.table.removeOwner(client.owner)
      if (removal) this.#host.broadcastLocal(removal)
    }
  }
}
