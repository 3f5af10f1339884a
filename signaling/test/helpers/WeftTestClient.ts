import * as Y from 'yjs'
import {
  Feature,
  PROTOCOL_VERSION,
  Reassembler,
  decodeMessage,
  encodeSyncStep1,
  encodeSyncUpdate,
  type Hello,
  type WireMessage,
} from '@weft/core/protocol'
import { TestClient } from './TestClient.js'

type Whole = Exclude<WireMessage, { type: 'chunk' }>

/**
 * A minimal Weft-protocol client over a raw WebSocket, built from core's encoders: announces the hello, sends
 * sequenced updates and waits for the relay's durable acks. Every message is decoded on arrival (chunks
 * reassembled, updates applied to `doc`) and kept until a test takes it with `next(type)`.
 */
export class WeftTestClient {
  readonly client: TestClient
  readonly doc = new Y.Doc()
  /** Decoded messages not taken yet, in arrival order. */
  readonly received: Whole[] = []
  readonly #reassembler = new Reassembler({ maxMessageSize: 64 * 1024 * 1024 })
  #waiters: Array<{ type: Whole['type']; resolve: (m: Whole) => void }> = []
  #seq = 0
  /** Number of chunk frames received. */
  chunksReceived = 0

  private constructor(client: TestClient) {
    this.client = client
    client.tap((data, isBinary) => {
      if (!isBinary) return
      let message = decodeMessage(data)
      if (message.type === 'chunk') {
        this.chunksReceived++
        const whole = this.#reassembler.add(message.id, message.total, message.offset, message.data)
        if (!whole) return
        message = decodeMessage(whole)
        if (message.type === 'chunk') throw new Error('nested chunk')
      }
      if (message.type === 'sync-step2' || message.type === 'sync-update')
        Y.applyUpdate(this.doc, message.update)
      const i = this.#waiters.findIndex((w) => w.type === message.type)
      if (i >= 0) this.#waiters.splice(i, 1)[0]?.resolve(message)
      else this.received.push(message)
    })
  }

  static async open(url: string, hello: Partial<Hello> = {}): Promise<WeftTestClient> {
    const c = new WeftTestClient(await TestClient.open(url))
    c.client.send(
      encodeSyncStep1(Y.encodeStateVector(c.doc), {
        version: PROTOCOL_VERSION,
        features: Feature.Ack | Feature.Chunk,
        maxMessageSize: 64 * 1024 * 1024,
        ...hello,
      }),
    )
    return c
  }

  /** Takes the next message of `type` (already received or future). */
  next<T extends Whole['type']>(type: T): Promise<Extract<Whole, { type: T }>> {
    const i = this.received.findIndex((m) => m.type === type)
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as Extract<Whole, { type: T }>)
    return new Promise((resolve) => this.#waiters.push({ type, resolve: resolve as (m: Whole) => void }))
  }

  /** Whether a message of `type` was received and not taken. */
  has(type: Whole['type']): boolean {
    return this.received.some((m) => m.type === type)
  }

  /** Sends an update with the next sequence number; returns that number. */
  sendUpdate(update: Uint8Array): number {
    const seq = ++this.#seq
    this.client.send(encodeSyncUpdate(update, seq))
    return seq
  }

  /** Resolves with the first ack whose sequence number is at least `seq`. */
  async ackAtLeast(seq: number): Promise<number> {
    for (;;) {
      const ack = await this.next('ack')
      if (ack.seq >= seq) return ack.seq
    }
  }
}
