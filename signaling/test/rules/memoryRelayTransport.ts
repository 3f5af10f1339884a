/** A client Transport over an in-memory relay connection, for running core's SyncSession against a RelayHub. */
import { ObservableV2 } from 'lib0/observable'
import { peerId, type PeerId, type Transport, type TransportEvents, type TransportStatus } from '@weft/core'
import type { MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'

const RELAY: PeerId = peerId('relay')

/** The relay is this transport's one peer; what the relay sends is delivered as it arrives, in order. */
export class MemoryRelayTransport extends ObservableV2<TransportEvents> implements Transport {
  readonly kind = 'relay'
  status: TransportStatus = 'connected'
  readonly peers = new Set<PeerId>([RELAY])
  readonly client: MemoryRelayClient

  constructor(client: MemoryRelayClient) {
    super()
    this.client = client
    void this.#pump()
  }

  async #pump(): Promise<void> {
    const closed = this.client.closed.then(() => null)
    for (;;) {
      const message = await Promise.race([this.client.next(), closed])
      if (message === null || this.status !== 'connected') return
      this.emit('message', [{ from: RELAY, data: message }])
    }
  }

  connect(): void {}

  disconnect(): void {
    if (this.status !== 'connected') return
    this.status = 'disconnected'
    this.client.close()
    this.peers.clear()
    this.emit('peer-left', [{ peer: RELAY, reason: 'disconnected' }])
    this.emit('status', [{ status: this.status }])
  }

  send(data: Uint8Array): void {
    this.client.send(data)
  }

  override destroy(): void {
    this.disconnect()
    super.destroy()
  }
}
