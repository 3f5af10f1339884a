import {
  encodeAwarenessEntries,
  readEncodedAwarenessEntries,
  type EncodedAwarenessEntry,
} from '@weft/core/protocol'
import type { AwarenessTable } from '../relay/AwarenessTable.js'

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

  /**
   * A local awareness broadcast (already validated and applied by the connection, and news only): publish what is
   * local. Reads client ids and clocks only.
   */
  fromLocal(update: Uint8Array): void {
    let entries: EncodedAwarenessEntry[]
    try {
      entries = readEncodedAwarenessEntries(update)
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
    else if (local.length > 0) this.#host.publish(encodeAwarenessEntries(local))
  }

  /**
   * Presence from another node: recorded under that node, then what is news (RELAY-6.4) is sent to the local
   * connections. A state the room's limits refuse (RELAY-6.5) is neither recorded nor sent.
   */
  fromRemote(node: string, update: Uint8Array): void {
    let entries: EncodedAwarenessEntry[]
    try {
      entries = readEncodedAwarenessEntries(update)
    } catch {
      return
    }
    const news: EncodedAwarenessEntry[] = []
    for (const e of entries) {
      let client = this.#remote.get(e.clientID)
      if (!client || client.node !== node) {
        client = { node, clock: e.clock, owner: {} }
        this.#remote.set(e.clientID, client)
      }
      client.clock = Math.max(client.clock, e.clock)
      try {
        const applied = this.#host.table.apply(encodeAwarenessEntries([e]), client.owner)
        if (applied.ok && applied.news) news.push(e)
      } catch {
        // Validated by the origin node; a state that does not decode is neither recorded nor forwarded.
      }
    }
    if (news.length === entries.length) this.#host.broadcastLocal(update)
    else if (news.length > 0) this.#host.broadcastLocal(encodeAwarenessEntries(news))
  }

  /** Presence of this node's own clients, to answer another node's query; `null` if none. */
  localPresence(): Uint8Array | null {
    return this.#host.table.encodeAll(this.#remote)
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
