import { peerId, type PeerId, type Transport, type TransportEvents, type TransportStatus } from '@weft/core'
import { ObservableV2 } from 'lib0/observable'
import type { ChildPeerOptions } from './ipc.js'
import type { PeerProcess } from './PeerProcess.js'

/**
 * A {@link Transport} whose real implementation, a WebRtcTransport, lives in a peer child process: calls are
 * forwarded over IPC, events come back in order and update `status` and `peers` before they are re-emitted.
 */
export class RemoteTransport extends ObservableV2<TransportEvents> implements Transport {
  readonly kind = 'webrtc'
  readonly maxMessageSize = 16 * 1024
  readonly process: PeerProcess
  readonly localPeer: PeerId
  readonly gen: number
  /** Error codes the child's transport emitted. */
  readonly errors: string[] = []
  #status: TransportStatus = 'disconnected'
  readonly #peers = new Set<PeerId>()
  readonly #off: () => void

  private constructor(proc: PeerProcess, localPeer: PeerId, gen: number) {
    super()
    this.process = proc
    this.localPeer = localPeer
    this.gen = gen
    this.#off = proc.onEvent((g, event, payload) => {
      if (g !== gen) return
      switch (event) {
        case 'status':
          this.#status = payload['status'] as TransportStatus
          this.emit('status', [{ status: this.#status }])
          return
        case 'peer-joined': {
          const peer = peerId(payload['peer'] as string)
          this.#peers.add(peer)
          this.emit('peer-joined', [{ peer }])
          return
        }
        case 'peer-left': {
          const peer = peerId(payload['peer'] as string)
          this.#peers.delete(peer)
          this.emit('peer-left', [{ peer, reason: payload['reason'] as string }])
          return
        }
        case 'message':
          this.emit('message', [
            { from: peerId(payload['from'] as string), data: payload['data'] as Uint8Array },
          ])
          return
        case 'error':
          this.errors.push(payload['code'] as string)
      }
    })
  }

  /** Creates a WebRtcTransport in `proc` (replacing the one it had) and returns its proxy. */
  static async create(proc: PeerProcess, options: ChildPeerOptions): Promise<RemoteTransport> {
    const { localPeer, gen } = (await proc.request({ cmd: 'create', options })) as {
      localPeer: string
      gen: number
    }
    return new RemoteTransport(proc, peerId(localPeer), gen)
  }

  /** Resolves with the message of the child transport's next `error` event with `code`. */
  nextError(code: string): Promise<string> {
    return this.process
      .nextEvent(this.gen, 'error', (p) => p['code'] === code)
      .then((p) => String(p['message']))
  }

  get status(): TransportStatus {
    return this.#status
  }

  get peers(): ReadonlySet<PeerId> {
    return this.#peers
  }

  async connect(): Promise<void> {
    await this.process.request({ cmd: 'connect' })
  }

  disconnect(peer?: PeerId): void {
    this.process.post(peer === undefined ? { cmd: 'disconnect' } : { cmd: 'disconnect', peer })
  }

  send(data: Uint8Array, to?: PeerId): void {
    this.process.post(to === undefined ? { cmd: 'send', data } : { cmd: 'send', data, to })
  }

  override destroy(): void {
    this.#off()
    this.process.post({ cmd: 'destroy' })
    super.destroy()
  }
}
