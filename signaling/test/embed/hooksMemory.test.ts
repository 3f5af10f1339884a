/**
 * Hooks over sockets handed to the relay through the public `WeftRelay.accept` (EMBED-4), in memory: a socket whose
 * close takes its time, as a WebSocket's close handshake does.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { decodeMessage, encodeSyncUpdate } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import {
  createWeftRelay,
  RoomGrant,
  type RelaySocket,
  type RelaySocketHandler,
  type SharedMessage,
} from '@weft/signaling'
import { memoryRelaySocketPair, type MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { deferred } from '../helpers/GatedStore.js'
import { nextOf, sendStep1 } from '../relay/unit/memoryRelay.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn()
})

/** A RelaySocket whose close starts at once but ends only when the test says (a slow close handshake). */
class SlowClose implements RelaySocket {
  readonly client: MemoryRelayClient
  readonly #inner: RelaySocket
  closedWith: number | null = null

  constructor() {
    const { relay, client } = memoryRelaySocketPair()
    this.#inner = relay
    this.client = client
  }
  get open(): boolean {
    return this.closedWith === null && this.#inner.open
  }
  get logger() {
    return this.#inner.logger
  }
  attach(handler: RelaySocketHandler): void {
    this.#inner.attach(handler)
  }
  send(message: Uint8Array | SharedMessage): boolean {
    return this.open && this.#inner.send(message)
  }
  close(code: number): void {
    this.closedWith ??= code
  }
  trackInput(): void {}
  /** The close handshake ends. */
  gone(): void {
    this.#inner.close(this.closedWith ?? 1000, '')
  }
}

const textUpdate = (text: string): Uint8Array => {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

describe('onUpdate and the acks of other connections', () => {
  it("HOOK-3.3, HOOK-3.6: a writer closed while its hook is pending holds no other connection's ack, even before its socket is gone", async () => {
    const gate = deferred()
    const entered = deferred()
    const relay = createWeftRelay({
      store: new MemoryDocStore(),
      logger: pino({ level: 'silent' }),
      commitWindowMs: 5,
      limits: { maxRelayMessageBytes: 1000 },
      hooks: {
        onUpdate: async ({ connection }) => {
          if (connection.id !== 1) return
          entered.resolve()
          await gate.promise
        },
      },
    })
    await relay.start()
    cleanups.push(async () => {
      gate.resolve()
      await relay.close()
    })
    const writer = new SlowClose()
    relay.accept(writer, { room: 'r', grant: RoomGrant.open() })
    const other = memoryRelaySocketPair()
    relay.accept(other.relay, { room: 'r', grant: RoomGrant.open() })
    for (const client of [writer.client, other.client]) {
      sendStep1(client, new Y.Doc())
      await nextOf(client, 'sync-step2')
    }
    writer.client.send(encodeSyncUpdate(textUpdate('first'), 1))
    await entered.promise
    // Queued behind the pending one past the bound: the writer is closed (its socket not gone yet).
    writer.client.send(encodeSyncUpdate(textUpdate('x'.repeat(600)), 2))
    writer.client.send(encodeSyncUpdate(textUpdate('y'.repeat(600)), 3))
    expect(writer.closedWith).toBe(CloseCode.RateLimited)
    // Another connection's empty update is acknowledged: nothing of the closed writer is waited for.
    other.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(new Y.Doc()), 1))
    expect((await nextOf(other.client, 'ack')).seq).toBe(1)
    writer.gone()
  })
})

describe('onUpdate and the acks of other connections (open writers)', () => {
  it("HOOK-3.3: a writer whose onUpdate is pending holds no other connection's ack of an empty update", async () => {
    const gate = deferred()
    const entered = deferred()
    const relay = createWeftRelay({
      store: new MemoryDocStore(),
      logger: pino({ level: 'silent' }),
      commitWindowMs: 5,
      hooks: {
        onUpdate: async ({ connection }) => {
          if (connection.id !== 1) return
          entered.resolve()
          await gate.promise
        },
      },
    })
    await relay.start()
    cleanups.push(async () => {
      gate.resolve()
      await relay.close()
    })
    const writer = memoryRelaySocketPair()
    relay.accept(writer.relay, { room: 'r', grant: RoomGrant.open() })
    const other = memoryRelaySocketPair()
    relay.accept(other.relay, { room: 'r', grant: RoomGrant.open() })
    for (const client of [writer.client, other.client]) {
      sendStep1(client, new Y.Doc())
      await nextOf(client, 'sync-step2')
    }
    writer.client.send(encodeSyncUpdate(textUpdate('held'), 1))
    await entered.promise
    // The writer stays open, its update undecided; the other connection's empty update is its own business.
    other.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(new Y.Doc()), 1))
    expect((await nextOf(other.client, 'ack')).seq).toBe(1)
    expect(writer.client.received.map((m) => decodeMessage(m).type)).not.toContain('ack')
  })
})

describe('messages that arrive while the room loads', () => {
  it('RELAY-9.2: they are charged to the input budget until handled, and bounded in bytes (RateLimited past maxRelayMessageBytes)', async () => {
    const gate = deferred()
    const relay = createWeftRelay({
      store: new MemoryDocStore(),
      logger: pino({ level: 'silent' }),
      limits: { maxRelayMessageBytes: 4000 },
      hooks: { onLoad: () => gate.promise },
    })
    await relay.start()
    cleanups.push(async () => {
      gate.resolve()
      await relay.close()
    })
    const patient = memoryRelaySocketPair()
    relay.accept(patient.relay, { room: 'r', grant: RoomGrant.open() })
    const first = encodeSyncUpdate(textUpdate('a'.repeat(1500)), 1)
    patient.client.send(first)
    patient.client.send(encodeSyncUpdate(textUpdate('b'.repeat(1500)), 2))
    await Promise.resolve()
    expect(patient.relay.heldInputBytes).toBeGreaterThanOrEqual(2 * first.byteLength - 10)
    // A second connection pushes more than the bound before the load ends: it is cut, its charge released.
    const greedy = memoryRelaySocketPair()
    relay.accept(greedy.relay, { room: 'r', grant: RoomGrant.open() })
    for (let i = 1; i <= 4; i++) greedy.client.send(encodeSyncUpdate(textUpdate('c'.repeat(1500)), i))
    expect((await greedy.client.closed).code).toBe(CloseCode.RateLimited)
    expect(greedy.relay.heldInputBytes).toBe(0)
    // The load ends: what waited is handled (and acked once durable), nothing stays charged.
    gate.resolve()
    sendStep1(patient.client, new Y.Doc())
    let acked = 0
    while (acked < 2) acked = (await nextOf(patient.client, 'ack')).seq
    expect(acked).toBe(2)
    expect(patient.relay.heldInputBytes).toBe(0)
  })
})

describe('acknowledgements of refused updates', () => {
  it('HOOK-3.1, RELAY-3.2: no ack covers a refused update, nor the accepted ones after it (sync and async verdicts)', async () => {
    for (const async of [false, true]) {
      const relay = createWeftRelay({
        store: new MemoryDocStore(),
        logger: pino({ level: 'silent' }),
        commitWindowMs: 5,
        hooks: {
          onUpdate: ({ update }) => {
            const verdict = Buffer.from(update).includes('bad')
              ? { ok: false as const, reason: 'bad' }
              : undefined
            return async ? Promise.resolve(verdict) : verdict
          },
        },
      })
      await relay.start()
      const { relay: socket, client } = memoryRelaySocketPair()
      relay.accept(socket, { room: 'r', grant: RoomGrant.open() })
      sendStep1(client, new Y.Doc())
      await nextOf(client, 'sync-step2')
      client.send(encodeSyncUpdate(textUpdate('good'), 1))
      expect((await nextOf(client, 'ack')).seq).toBe(1)
      client.send(encodeSyncUpdate(textUpdate('bad'), 2))
      client.send(encodeSyncUpdate(textUpdate('later'), 3))
      expect((await client.closed).code).toBe(CloseCode.UpdateRefused)
      await relay.close()
      const seqs = client.received
        .map((m) => decodeMessage(m))
        .flatMap((m) => (m.type === 'ack' ? [m.seq] : []))
      expect([async, seqs]).toEqual([async, [1]])
    }
  })
})

describe('limits of handed-over sockets (EMBED-4)', () => {
  it('EMBED-4: handed-over sockets count against maxConnections (ServerFull) and, with a clientAddress, the per-address limit (RateLimited); a closed one frees its place', async () => {
    const relay = createWeftRelay({
      store: new MemoryDocStore(),
      logger: pino({ level: 'silent' }),
      limits: { maxConnections: 2, maxConnectionsPerIp: 1 },
    })
    await relay.start()
    cleanups.push(() => relay.close())
    const hand = (clientAddress?: string) => {
      const pair = memoryRelaySocketPair()
      relay.accept(pair.relay, { room: 'r', grant: RoomGrant.open(), clientAddress })
      return pair.client
    }
    const first = hand('10.0.0.1')
    expect((await hand('10.0.0.1').closed).code).toBe(CloseCode.RateLimited)
    const second = hand()
    expect((await hand('10.0.0.2').closed).code).toBe(CloseCode.ServerFull)
    expect(relay.metrics.get('weft_connections', { endpoint: 'relay' })).toBe(2)
    first.close()
    const again = hand('10.0.0.1')
    sendStep1(again, new Y.Doc())
    await nextOf(again, 'sync-step2')
    expect(first.closeInfo?.by).toBe('client')
    expect(second.closeInfo).toBeNull()
  })
})
