import { ObservableV2 } from 'lib0/observable'
import { peerId, type PeerId, type Transport, type TransportEvents, type TransportStatus } from '@weft/core'

/** Options of {@link BroadcastChannelTransport}. */
export interface BroadcastChannelTransportOptions {
  /** The room (document id): tabs with the same room on the same origin find each other. */
  readonly room: string
  /** This tab's id (default: random). */
  readonly id?: string
  /** Channel name prefix (default `"weft:"`). */
  readonly prefix?: string
}

type Envelope =
  | { readonly t: 'hello'; readonly from: string }
  | { readonly t: 'here'; readonly from: string; readonly to: string }
  | { readonly t: 'bye'; readonly from: string; readonly to?: string }
  | { readonly t: 'msg'; readonly from: string; readonly to: string | null; readonly data: Uint8Array }

const isEnvelope = (v: unknown): v is Envelope => {
  if (typeof v !== 'object' || v === null) return false
  const e = v as Record<string, unknown>
  if (typeof e.from !== 'string') return false
  switch (e.t) {
    case 'hello':
      return true
    case 'bye':
      return e.to === undefined || typeof e.to === 'string'
    case 'here':
      return typeof e.to === 'string'
    case 'msg':
      return (e.to === null || typeof e.to === 'string') && e.data instanceof Uint8Array
    default:
      return false
  }
}

/**
 * A {@link Transport} between tabs (and workers) of one browser origin over a `BroadcastChannel`. Each tab is a
 * peer: a tab announces itself with `hello`, the others answer `here`, and `bye` is sent on disconnect and when
 * the page is hidden for good (`pagehide`). Messages may be addressed to one tab; others ignore them.
 */
export class BroadcastChannelTransport extends ObservableV2<TransportEvents> implements Transport {
  readonly kind = 'tabs'
  readonly maxMessageSize = undefined
  readonly id: string
  /** The room (document id). */
  readonly room: string
  readonly #name: string
  #channel: BroadcastChannel | null = null
  #status: TransportStatus = 'disconnected'
  readonly #peers = new Set<PeerId>()
  readonly #onPageHide = () => this.disconnect()

  constructor(options: BroadcastChannelTransportOptions) {
    super()
    this.id = options.id ?? randomId()
    this.room = options.room
    this.#name = `${options.prefix ?? 'weft:'}${options.room}`
  }

  get status(): TransportStatus {
    return this.#status
  }

  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#peers)
  }

  connect(): void {
    if (this.#channel) return
    const channel = new BroadcastChannel(this.#name)
    this.#channel = channel
    channel.onmessage = (ev: MessageEvent) => this.#receive(ev.data)
    globalThis.addEventListener?.('pagehide', this.#onPageHide)
    this.#status = 'connected'
    this.emit('status', [{ status: 'connected' }])
    this.#post({ t: 'hello', from: this.id })
  }

  disconnect(peer?: PeerId): void {
    if (peer !== undefined) {
      // A tab that sent bad data: tell it we are gone for it, and forget it until it announces itself again.
      if (this.#peers.has(peer)) this.#post({ t: 'bye', from: this.id, to: peer })
      this.#leave(peer, 'dropped')
      return
    }
    const channel = this.#channel
    if (!channel) return
    this.#post({ t: 'bye', from: this.id })
    channel.onmessage = null
    channel.close()
    this.#channel = null
    globalThis.removeEventListener?.('pagehide', this.#onPageHide)
    for (const p of [...this.#peers]) this.#leave(p, 'disconnected')
    this.#status = 'disconnected'
    this.emit('status', [{ status: 'disconnected' }])
  }

  send(data: Uint8Array, to?: PeerId): void {
    if (!this.#channel || this.#peers.size === 0) return
    if (to !== undefined && !this.#peers.has(to)) return
    this.#post({ t: 'msg', from: this.id, to: to ?? null, data })
  }

  override destroy(): void {
    this.disconnect()
    super.destroy()
  }

  #post(e: Envelope): void {
    this.#channel?.postMessage(e)
  }

  #receive(raw: unknown): void {
    if (!isEnvelope(raw) || raw.from === this.id) return
    const from = peerId(raw.from)
    switch (raw.t) {
      case 'hello':
        this.#post({ t: 'here', from: this.id, to: raw.from })
        this.#join(from)
        return
      case 'here':
        if (raw.to === this.id) this.#join(from)
        return
      case 'bye':
        if (raw.to === undefined || raw.to === this.id) this.#leave(from, 'tab left')
        return
      case 'msg':
        if (raw.to !== null && raw.to !== this.id) return
        if (!this.#peers.has(from)) return // only announced tabs are peers
        this.emit('message', [{ from, data: raw.data }])
    }
  }

  #join(peer: PeerId): void {
    if (this.#peers.has(peer)) return
    this.#peers.add(peer)
    this.emit('peer-joined', [{ peer }])
  }

  #leave(peer: PeerId, reason: string): void {
    if (!this.#peers.delete(peer)) return
    this.emit('peer-left', [{ peer, reason }])
  }
}

const randomId = (): string => {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
