import { afterEach, describe, expect, it } from './vitestApi.js'
import type { PeerId } from '../ids.js'
import type { Transport, TransportEvents } from '../transport/Transport.js'

/** What a transport implementation provides to {@link runTransportContract}. */
export interface TransportContractHarness {
  /**
   * Creates two transports that will be each other's peers once both are connected (neither is connected yet).
   */
  create(): Promise<{ a: Transport; b: Transport; cleanup?: () => Promise<void> | void }>
  /** Delivers queued messages, for transports with manual delivery (MemoryTransport). */
  flush?: () => void
}

type Payload<E extends keyof TransportEvents> = Parameters<TransportEvents[E]>[0]

/** Resolves with the first `event` of `t` that satisfies `match`, flushing manual transports meanwhile. */
export const nextEvent = <E extends keyof TransportEvents>(
  t: Transport,
  event: E,
  match: (payload: Payload<E>) => boolean = () => true,
  flush?: () => void,
): Promise<Payload<E>> => {
  const promise = new Promise<Payload<E>>((resolve) => {
    const handler = ((payload: Payload<E>) => {
      if (!match(payload)) return
      t.off(event, handler as TransportEvents[E])
      resolve(payload)
    }) as TransportEvents[E]
    t.on(event, handler)
  })
  flush?.()
  return promise
}

const bytes = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

/**
 * The contract every {@link Transport} passes (rules `TRANSPORT-*` in docs/spec/sync-protocol.md). Call it
 * inside a test file: `runTransportContract('MemoryTransport', harness)`.
 */
export const runTransportContract = (name: string, harness: TransportContractHarness): void => {
  describe(`Transport contract: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = []
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c()
    })

    const connected = async () => {
      const { a, b, cleanup } = await harness.create()
      cleanups.push(async () => {
        a.destroy()
        b.destroy()
        await cleanup?.()
      })
      const aSeesB = nextEvent(a, 'peer-joined')
      const bSeesA = nextEvent(b, 'peer-joined')
      await Promise.all([a.connect(), b.connect()])
      harness.flush?.()
      const [{ peer: bId }, { peer: aId }] = await Promise.all([aSeesB, bSeesA])
      return { a, b, aId, bId }
    }

    it('TRANSPORT-1.1 connecting both sides makes each the other peer, with status connected', async () => {
      const { a, b, aId, bId } = await connected()
      expect(a.status).toBe('connected')
      expect(b.status).toBe('connected')
      expect([...a.peers]).toContain(bId)
      expect([...b.peers]).toContain(aId)
    })

    it('TRANSPORT-1.2 bytes sent to a peer arrive intact and in order', async () => {
      const { a, b, bId } = await connected()
      const got: Uint8Array[] = []
      const done = new Promise<void>((resolve) => {
        b.on('message', ({ data }) => {
          got.push(data)
          if (got.length === 3) resolve()
        })
      })
      const sent = [bytes(1, 1), bytes(1000, 2), bytes(5000, 3)]
      for (const m of sent) a.send(m, bId)
      harness.flush?.()
      await done
      expect(got.map((m) => [...m])).toEqual(sent.map((m) => [...m]))
    })

    it('TRANSPORT-1.3 send without a peer reaches every peer; the message names its sender', async () => {
      const { a, b, aId } = await connected()
      const arrived = nextEvent(b, 'message', () => true, harness.flush)
      a.send(bytes(10, 7))
      harness.flush?.()
      const { from, data } = await arrived
      expect(from).toBe(aId)
      expect([...data]).toEqual([...bytes(10, 7)])
    })

    it('TRANSPORT-1.4 disconnect makes the peer leave on both sides, and send afterwards does not throw', async () => {
      const { a, b, aId, bId } = await connected()
      const aLeft = nextEvent(a, 'peer-left', ({ peer }) => peer === bId)
      const bLeft = nextEvent(b, 'peer-left', ({ peer }) => peer === aId)
      a.disconnect()
      harness.flush?.()
      await Promise.all([aLeft, bLeft])
      expect(a.status).toBe('disconnected')
      expect(a.peers.size).toBe(0)
      expect(() => a.send(bytes(3, 1), bId)).not.toThrow()
    })

    it('TRANSPORT-1.5 a transport reconnects after disconnect', async () => {
      const { a, b, bId } = await connected()
      const left = nextEvent(b, 'peer-left')
      a.disconnect()
      harness.flush?.()
      await left
      const again = nextEvent(a, 'peer-joined', ({ peer }) => peer === bId)
      await a.connect()
      harness.flush?.()
      await again
      const arrived = nextEvent(b, 'message', () => true, harness.flush)
      a.send(bytes(4, 4), bId)
      harness.flush?.()
      expect([...(await arrived).data]).toEqual([...bytes(4, 4)])
    })

    it('TRANSPORT-1.6 disconnect(peer) drops only that peer', async () => {
      const { a, b, aId, bId } = await connected()
      const bLeft = nextEvent(b, 'peer-left', ({ peer }) => peer === aId)
      a.disconnect(bId as PeerId)
      harness.flush?.()
      await bLeft
      expect(b.peers.has(aId)).toBe(false)
    })
  })
}
