import { ObservableV2 } from 'lib0/observable'
import { peerId, type PeerId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { Transport, TransportEvents, TransportStatus } from './Transport.js'

interface InFlight {
  readonly from: MemoryTransport
  readonly to: MemoryTransport
  readonly data: Uint8Array
  /** The link generation the message was sent on: messages of a cut link are never delivered. */
  readonly generation: number
}

/** What a {@link MemoryNetwork} fault hook decides for one message. */
export type Fault = 'deliver' | 'drop' | 'duplicate'

const linkKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`)

/**
 * An in-memory network of {@link MemoryTransport}s with manual delivery, for deterministic tests. Messages queue
 * until {@link MemoryNetwork.flush} (FIFO) or {@link MemoryNetwork.deliver} (any chosen message: reordering) is
 * called; a fault hook can drop or duplicate messages. Cutting a link discards its in-flight messages.
 */
export class MemoryNetwork {
  readonly #endpoints = new Map<string, MemoryTransport>()
  /** Configured links -> generation (bumped on every cut, so stale messages are discarded). */
  readonly #links = new Map<string, { generation: number; up: boolean }>()
  #queue: InFlight[] = []
  /** Bytes delivered so far, per receiving endpoint name. */
  readonly received = new Map<string, number>()

  /** Creates an endpoint. Names are the peer ids the other side sees. */
  transport(name: string, options: { maxMessageSize?: number } = {}): MemoryTransport {
    if (this.#endpoints.has(name))
      throw new WeftError(WeftErrorCode.InvalidArgument, `endpoint ${name} exists`)
    const t = new MemoryTransport(this, name, options.maxMessageSize)
    this.#endpoints.set(name, t)
    return t
  }

  /** Links two endpoints (a cable): when both are connected they are each other's peers. */
  link(a: MemoryTransport, b: MemoryTransport): void {
    const key = linkKey(a.name, b.name)
    const existing = this.#links.get(key)
    if (existing?.up) return
    this.#links.set(key, { generation: (existing?.generation ?? 0) + 1, up: true })
    if (a.status === 'connected' && b.status === 'connected') {
      a._join(b)
      b._join(a)
    }
  }

  /** Unplugs the cable between two endpoints: both see `peer-left`; in-flight messages are lost. */
  cut(a: MemoryTransport, b: MemoryTransport): void {
    const link = this.#links.get(linkKey(a.name, b.name))
    if (!link?.up) return
    link.up = false
    link.generation++
    a._leave(b, 'link cut')
    b._leave(a, 'link cut')
  }

  /** Whether the cable between `a` and `b` is plugged in. */
  isLinked(a: MemoryTransport, b: MemoryTransport): boolean {
    return this.#links.get(linkKey(a.name, b.name))?.up === true
  }

  /** Endpoints linked to `t` (whatever their status). */
  neighbours(t: MemoryTransport): MemoryTransport[] {
    const out: MemoryTransport[] = []
    for (const other of this.#endpoints.values()) {
      if (other !== t && this.isLinked(t, other)) out.push(other)
    }
    return out
  }

  /** Messages waiting for delivery. */
  get pending(): number {
    return this.#queue.length
  }

  /** @internal */
  _enqueue(from: MemoryTransport, to: MemoryTransport, data: Uint8Array): void {
    const link = this.#links.get(linkKey(from.name, to.name))
    if (!link?.up) return
    // Copy: the sender may reuse its buffer, and the receiver must not share memory with it.
    this.#queue.push({ from, to, data: data.slice(), generation: link.generation })
  }

  /**
   * Delivers the message at `index` of the queue (default: the oldest), applying `fault`. Returns false when
   * the queue is empty.
   */
  deliver(index = 0, fault: Fault = 'deliver'): boolean {
    const [msg] = this.#queue.splice(index, 1)
    if (msg === undefined) return false
    if (fault === 'drop') return true
    const link = this.#links.get(linkKey(msg.from.name, msg.to.name))
    if (!link?.up || link.generation !== msg.generation) return true
    if (msg.from.status !== 'connected' || msg.to.status !== 'connected') return true
    this.received.set(msg.to.name, (this.received.get(msg.to.name) ?? 0) + msg.data.length)
    msg.to._receive(msg.from, msg.data)
    if (fault === 'duplicate') msg.to._receive(msg.from, msg.data.slice())
    return true
  }

  /** Delivers messages in order until none are left (or `limit` deliveries). Returns how many were delivered. */
  flush(limit = 1_000_000): number {
    let n = 0
    while (n < limit && this.deliver()) n++
    if (n >= limit && this.#queue.length > 0) {
      throw new WeftError(WeftErrorCode.InvalidArgument, `network did not quiesce after ${limit} deliveries`)
    }
    return n
  }
}

/**
 * One endpoint of a {@link MemoryNetwork}: a {@link Transport} whose peers are the endpoints it is linked to.
 */
export class MemoryTransport extends ObservableV2<TransportEvents> implements Transport {
  readonly kind = 'memory'
  readonly name: string
  readonly maxMessageSize: number | undefined
  readonly #network: MemoryNetwork
  #status: TransportStatus = 'disconnected'
  readonly #peers = new Map<PeerId, MemoryTransport>()
  /** Messages sent, for tests. */
  sent = 0

  /** Use {@link MemoryNetwork.transport}. */
  constructor(network: MemoryNetwork, name: string, maxMessageSize?: number) {
    super()
    this.#network = network
    this.name = name
    this.maxMessageSize = maxMessageSize
  }

  get status(): TransportStatus {
    return this.#status
  }

  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#peers.keys())
  }

  connect(): void {
    if (this.#status === 'connected') return
    this.#status = 'connected'
    this.emit('status', [{ status: 'connected' }])
    for (const other of this.#network.neighbours(this)) {
      if (other.status === 'connected') {
        other._join(this)
        this._join(other)
      }
    }
  }

  disconnect(peer?: PeerId): void {
    if (peer !== undefined) {
      const other = this.#peers.get(peer)
      if (other) this.#network.cut(this, other)
      return
    }
    if (this.#status === 'disconnected') return
    for (const other of [...this.#peers.values()]) {
      other._leave(this, 'peer disconnected')
      this._leave(other, 'disconnected')
    }
    this.#status = 'disconnected'
    this.emit('status', [{ status: 'disconnected' }])
  }

  send(data: Uint8Array, to?: PeerId): void {
    if (this.#status !== 'connected') return
    if (this.maxMessageSize !== undefined && data.length > this.maxMessageSize) {
      throw new WeftError(
        WeftErrorCode.MessageTooLarge,
        `message of ${data.length} bytes exceeds this transport's ${this.maxMessageSize}`,
      )
    }
    const targets = to === undefined ? [...this.#peers.values()] : [this.#peers.get(to)]
    for (const t of targets) {
      if (t === undefined) continue
      this.sent++
      this.#network._enqueue(this, t, data)
    }
  }

  override destroy(): void {
    this.disconnect()
    super.destroy()
  }

  /** @internal */
  _join(other: MemoryTransport): void {
    const id = peerId(other.name)
    if (this.#peers.has(id)) return
    this.#peers.set(id, other)
    this.emit('peer-joined', [{ peer: id }])
  }

  /** @internal */
  _leave(other: MemoryTransport, reason: string): void {
    const id = peerId(other.name)
    if (!this.#peers.delete(id)) return
    this.emit('peer-left', [{ peer: id, reason }])
  }

  /** @internal */
  _receive(from: MemoryTransport, data: Uint8Array): void {
    if (!this.#peers.has(peerId(from.name))) return
    this.emit('message', [{ from: peerId(from.name), data }])
  }
}

/** Two linked endpoints on a fresh network, the common case in tests. */
export const createMemoryPair = (
  options: { maxMessageSize?: number } = {},
): { network: MemoryNetwork; a: MemoryTransport; b: MemoryTransport } => {
  const network = new MemoryNetwork()
  const a = network.transport('a', options)
  const b = network.transport('b', options)
  network.link(a, b)
  return { network, a, b }
}
