import { ObservableV2 } from 'lib0/observable'
import WebSocket from 'ws'
import { peerId, type PeerId, type Transport, type TransportEvents, type TransportStatus } from '@weft/core'

/** The one peer of a {@link RelayTransport}: the relay. */
export const RELAY_PEER: PeerId = peerId('relay')

/**
 * A minimal client Transport over one WebSocket to a relay room, for tests that run core's SyncSession against a
 * real server (signaling tests may not import @weft/providers). No reconnect: `connect()` again after
 * `disconnect()`. `closed` resolves with the close code of the last connection.
 */
export class RelayTransport extends ObservableV2<TransportEvents> implements Transport {
  readonly kind = 'relay'
  readonly url: string
  status: TransportStatus = 'disconnected'
  readonly peers = new Set<PeerId>()
  #ws: WebSocket | null = null
  /** Close codes of the connections so far, in order. */
  readonly closeCodes: number[] = []

  constructor(url: string) {
    super()
    this.url = url
  }

  /** Resolves once connected (the relay is then a peer). */
  connect(): Promise<void> {
    if (this.#ws) return Promise.resolve()
    const ws = new WebSocket(this.url)
    ws.binaryType = 'nodebuffer'
    this.#ws = ws
    this.#setStatus('connecting')
    ws.on('message', (data: Buffer) => {
      if (this.#ws !== ws) return
      this.emit('message', [{ from: RELAY_PEER, data: new Uint8Array(data) }])
    })
    ws.on('error', () => undefined)
    ws.on('close', (code) => {
      this.closeCodes.push(code)
      if (this.#ws !== ws) return
      this.#ws = null
      this.#drop(`closed ${code}`)
    })
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        this.#setStatus('connected')
        this.peers.add(RELAY_PEER)
        this.emit('peer-joined', [{ peer: RELAY_PEER }])
        resolve()
      })
      ws.once('unexpected-response', () => reject(new Error('unexpected response')))
    })
  }

  /** Resolves with the code of the next close. */
  nextClose(): Promise<number> {
    const ws = this.#ws
    if (!ws) return Promise.resolve(this.closeCodes.at(-1) ?? 0)
    return new Promise((resolve) => ws.once('close', (code) => resolve(code)))
  }

  disconnect(): void {
    const ws = this.#ws
    if (!ws) return
    this.#ws = null
    ws.close()
    this.#drop('disconnected')
  }

  send(data: Uint8Array): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(data)
  }

  override destroy(): void {
    this.disconnect()
    super.destroy()
  }

  #drop(reason: string): void {
    if (this.peers.delete(RELAY_PEER)) this.emit('peer-left', [{ peer: RELAY_PEER, reason }])
    this.#setStatus('disconnected')
  }

  #setStatus(status: TransportStatus): void {
    if (this.status === status) return
    this.status = status
    this.emit('status', [{ status }])
  }
}
