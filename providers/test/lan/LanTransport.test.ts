import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { SyncSession, WeftErrorCode, type PeerId, type Transport, type TransportEvents } from '@weft/core'
import { runTransportContract } from '@weft/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import * as Y from 'yjs'
import {
  LAN_PROTOCOL_VERSION,
  LanTransport,
  MemoryLanNetwork,
  createLanSecret,
  roomTag,
  type LanDiscovery,
  type LanTransportOptions,
} from '../../src/lan/index.js'
import { encodeHello, newNonce, newSalt, parseHello } from '../../src/lan/lanHandshake.js'

// Unit tests in one process: transports listen on 127.0.0.1 and find each other through MemoryLanNetwork, so no
// multicast is sent. Real mDNS between network namespaces: LanTransport.netns.test.ts. Rule ids: docs/guides/lan.md.

let room = 0
const RIGHT = createLanSecret()
const WRONG = createLanSecret()
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const lan = (network: MemoryLanNetwork, options: Partial<LanTransportOptions> = {}): LanTransport => {
  const t = new LanTransport({
    room: `lan-${room}`,
    host: '127.0.0.1',
    discovery: network.discovery(),
    ...options,
  })
  cleanups.push(async () => {
    t.destroy()
    await t.whenStopped()
  })
  return t
}

const joined = async (a: LanTransport, b: LanTransport): Promise<void> => {
  const ab = nextEvent(a, 'peer-joined', ({ peer }) => peer === b.localPeer)
  const ba = nextEvent(b, 'peer-joined', ({ peer }) => peer === a.localPeer)
  await Promise.all([a.connect(), b.connect()])
  await Promise.all([ab, ba])
}

type Payload<E extends keyof TransportEvents> = Parameters<TransportEvents[E]>[0]

/** Resolves with the first `event` of `t` that satisfies `match`. */
const nextEvent = <E extends keyof TransportEvents>(
  t: Transport,
  event: E,
  match: (payload: Payload<E>) => boolean = () => true,
): Promise<Payload<E>> =>
  new Promise((resolve) => {
    const handler = ((payload: Payload<E>) => {
      if (!match(payload)) return
      t.off(event, handler as TransportEvents[E])
      resolve(payload)
    }) as TransportEvents[E]
    t.on(event, handler)
  })

type ErrorEvent = { readonly error: { readonly code: string }; readonly peer?: PeerId }
const nextError = (t: LanTransport, code: string): Promise<ErrorEvent> =>
  new Promise((resolve) => {
    const on = (e: ErrorEvent) => {
      if (e.error.code !== code) return
      t.off('error', on)
      resolve(e)
    }
    t.on('error', on)
  })

/** A room tag under a fresh salt, as an advert carries it. */
const taggedFor = (r: string) => {
  const salt = newSalt()
  return { room: roomTag(r, salt), salt }
}

/** A hello frame for room `r` (version 2 unless given). */
const helloFor = (
  r: string,
  o: { readonly peer: string; readonly version?: number; readonly auth?: boolean },
): string =>
  encodeHello({
    version: o.version ?? LAN_PROTOCOL_VERSION,
    peer: o.peer,
    ...taggedFor(r),
    nonce: newNonce(),
    auth: o.auth ?? false,
  })

/** A raw WebSocket to `t`'s server; resolves with the close code once the transport closes it. */
const rawClient = async (t: LanTransport): Promise<{ socket: WebSocket; closed: Promise<number> }> => {
  const socket = new WebSocket(`ws://127.0.0.1:${t.port}/`)
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  return { socket, closed }
}

runTransportContract('LanTransport (127.0.0.1, in-process discovery)', {
  create: () => {
    const network = new MemoryLanNetwork()
    const r = `contract-${++room}`
    const a = new LanTransport({ room: r, host: '127.0.0.1', discovery: network.discovery() })
    const b = new LanTransport({ room: r, host: '127.0.0.1', discovery: network.discovery() })
    return Promise.resolve({
      a,
      b,
      cleanup: async () => {
        await Promise.all([a.whenStopped(), b.whenStopped()])
      },
    })
  },
})

describe('LanTransport', () => {
  for (const secret of [undefined, 'correct horse battery staple']) {
    // (A phrase of four common words is the weakest kind of secret the transport accepts: see PROV-6.7.)
    it(`PROV-6.1 two peers sync a document through SyncSession (${secret ? 'with' : 'without'} a secret)`, async () => {
      room++
      const network = new MemoryLanNetwork()
      const peers = [lan(network, { secret }), lan(network, { secret })].map((t) => {
        const doc = new Y.Doc()
        const session = new SyncSession({ doc })
        session.addTransport(t)
        cleanups.push(() => session.destroy())
        return { t, doc, session }
      })
      const [a, b] = peers as [(typeof peers)[0], (typeof peers)[0]]
      a.doc.getText('t').insert(0, 'offline edit; ')
      const synced = Promise.all(
        peers.map((p) => new Promise<void>((resolve) => p.session.once('peer-synced', () => resolve()))),
      )
      await joined(a.t, b.t)
      await synced
      expect(b.doc.getText('t').toString()).toBe('offline edit; ')
      const arrived = new Promise<void>((resolve) => a.doc.on('update', () => resolve()))
      b.doc.getText('t').insert(14, 'live edit')
      await arrived
      expect(a.doc.getText('t').toString()).toBe('offline edit; live edit')
      expect(a.session.paths.map((p) => p.transport.kind)).toEqual(['lan'])
    })
  }

  it('PROV-6.2 a peer with a wrong secret is refused on both sides; peers with the right one still join', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network, { secret: RIGHT })
    const bad = lan(network, { secret: WRONG })
    const joins: string[] = []
    a.on('peer-joined', ({ peer }) => joins.push(`a:${peer}`))
    bad.on('peer-joined', ({ peer }) => joins.push(`bad:${peer}`))
    const refusedByA = nextError(a, WeftErrorCode.AuthDenied)
    const refusedByBad = nextError(bad, WeftErrorCode.AuthDenied)
    await Promise.all([a.connect(), bad.connect()])
    const [ea, eb] = await Promise.all([refusedByA, refusedByBad])
    expect(ea.peer).toBe(bad.localPeer)
    expect(eb.peer).toBe(a.localPeer)
    const good = lan(network, { secret: RIGHT })
    await joined(a, good)
    expect(joins.sort()).toEqual([`a:${good.localPeer}`])
    expect([...a.peers]).toEqual([good.localPeer])
    expect(bad.peers.size).toBe(0)
  })

  it('PROV-6.2 a peer without a secret is refused by a peer that has one', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network, { secret: RIGHT })
    const open = lan(network)
    const refused = Promise.all([
      nextError(a, WeftErrorCode.AuthDenied),
      nextError(open, WeftErrorCode.AuthDenied),
    ])
    await Promise.all([a.connect(), open.connect()])
    await refused
    expect(a.peers.size + open.peers.size).toBe(0)
  })

  it('PROV-6.3 a malformed hello closes that connection only; the transport keeps working', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network)
    const b = lan(network)
    await joined(a, b)
    const cases: Array<{ frame: string | Uint8Array; code: number }> = [
      { frame: 'not json at all', code: 4001 },
      {
        frame: JSON.stringify({ weft: 'lan-hello', v: 2, peer: 'x y', room: 'r', nonce: 'n', auth: false }),
        code: 4001,
      },
      { frame: 'x'.repeat(5000), code: 4001 },
      { frame: new Uint8Array([0, 1, 2, 3]), code: 4001 },
      {
        frame: helloFor('another room', { peer: 'intruder' }),
        code: 4005,
      },
      {
        frame: helloFor(a.room, { peer: 'future', version: 99 }),
        code: 4001,
      },
    ]
    for (const { frame, code } of cases) {
      const { socket, closed } = await rawClient(a)
      socket.send(frame)
      expect(await closed).toBe(code)
    }
    expect([...a.peers]).toEqual([b.localPeer])
    const arrived = nextEvent(b, 'message')
    a.send(new Uint8Array([7, 7, 7]))
    expect([...(await arrived).data]).toEqual([7, 7, 7])
  })

  it('PROV-6.3 a malformed hello is reported as an error event', async () => {
    room++
    const a = lan(new MemoryLanNetwork())
    await a.connect()
    const reported = nextError(a, WeftErrorCode.MalformedMessage)
    const { socket, closed } = await rawClient(a)
    socket.send('{"weft":"lan-hello"}')
    expect(await closed).toBe(4001)
    expect((await reported).error.code).toBe('malformed-message')
  })

  it('PROV-6.4 a peer that stops answering heartbeats leaves within peerTimeout', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network, { peerId: 'aaaa', peerTimeout: 300 })
    // A hand-made peer that answers the hello, then goes silent: it never answers a ping.
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    server.on('connection', (socket) => {
      socket.once('message', (data) => {
        const hello = parseHello(String(data))
        if (!hello) return
        socket.send(helloFor(a.room, { peer: 'zzzz' }))
      })
    })
    const port = (server.address() as AddressInfo).port
    cleanups.push(
      network.announce({ peer: 'zzzz', ...taggedFor(a.room), version: LAN_PROTOCOL_VERSION, port }),
    )
    const join = nextEvent(a, 'peer-joined', ({ peer }) => peer === 'zzzz')
    await a.connect()
    await join
    const start = Date.now()
    const left = await nextEvent(a, 'peer-left', ({ peer }) => peer === 'zzzz')
    const elapsed = Date.now() - start
    expect(left.reason).toMatch(/heartbeat/)
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(2000)
    for (const socket of server.clients) socket.terminate()
  })

  it('PROV-6.5 peers of other rooms are never connected; three peers of one room form a mesh', async () => {
    room++
    const network = new MemoryLanNetwork()
    const [a, b, c] = [lan(network), lan(network), lan(network)]
    const other = lan(network, { room: `other-${room}` })
    const otherJoined: string[] = []
    other.on('peer-joined', ({ peer }) => otherJoined.push(peer))
    await other.connect()
    const meshed = Promise.all(
      [a, b, c].map(
        (t) =>
          new Promise<void>((resolve) => {
            const check = () => t.peers.size === 2 && resolve()
            t.on('peer-joined', check)
          }),
      ),
    )
    await Promise.all([a.connect(), b.connect(), c.connect()])
    await meshed
    expect([...a.peers].sort()).toEqual([b.localPeer, c.localPeer].sort())
    expect(otherJoined).toEqual([])
    expect(other.peers.size).toBe(0)
  })

  it('PROV-6.6 a peer that reappears is connected again; disconnect(peer) does not touch the others', async () => {
    room++
    const network = new MemoryLanNetwork()
    const [a, b, c] = [lan(network), lan(network), lan(network)]
    const meshed = (t: LanTransport) =>
      new Promise<void>((resolve) => {
        const check = () => t.peers.size === 2 && resolve()
        t.on('peer-joined', check)
        check()
      })
    await Promise.all([a.connect(), b.connect(), c.connect()])
    await Promise.all([meshed(a), meshed(b), meshed(c)])
    const cLeft = nextEvent(c, 'peer-left', ({ peer }) => peer === a.localPeer)
    a.disconnect(c.localPeer)
    await cLeft
    expect(a.peers.has(b.localPeer)).toBe(true)
    expect(b.peers.size).toBe(2)
    // b goes away and comes back (a new server, a new port): a and c connect to it again.
    const gone = Promise.all([a, c].map((t) => nextEvent(t, 'peer-left', ({ peer }) => peer === b.localPeer)))
    b.disconnect()
    await gone
    await b.whenStopped()
    const back = Promise.all(
      [a, c].map((t) => nextEvent(t, 'peer-joined', ({ peer }) => peer === b.localPeer)),
    )
    await b.connect()
    await Promise.all([back, meshed(b)])
    expect([...b.peers].sort()).toEqual([a.localPeer, c.localPeer].sort())
  })

  it('PROV-6.7 rejects invalid options, a weak secret included', () => {
    expect(() => new LanTransport({ room: '' })).toThrow(/room/)
    expect(() => new LanTransport({ room: 'r', peerId: 'has space' })).toThrow(/peerId/)
    expect(() => new LanTransport({ room: 'r', secret: '' })).toThrow(/secret/)
    expect(() => new LanTransport({ room: 'r', secret: 'hunter2' })).toThrow(/at least 20 characters/)
    expect(() => new LanTransport({ room: 'r', secret: 'abababababababababababab' })).toThrow(
      /different characters/,
    )
    for (const weak of ['', 'hunter2', '0123456789012345678']) {
      try {
        new LanTransport({ room: 'r', secret: weak })
      } catch (err) {
        expect((err as { code: string }).code).toBe(WeftErrorCode.InvalidArgument)
      }
    }
    expect(createLanSecret()).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(() => new LanTransport({ room: 'r', secret: createLanSecret() }).destroy()).not.toThrow()
  })

  /**
   * A raw client that says `hello` (and then `more`) as soon as it is open, and resolves with every text frame it
   * received (recorded from the start: the peer's hello can arrive with the upgrade) and the close code.
   */
  const intruder = (t: LanTransport, hello: string, ...more: string[]) =>
    new Promise<{ frames: string[]; code: number }>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${t.port}/`)
      const frames: string[] = []
      socket.on('message', (data, isBinary) => {
        if (!isBinary) frames.push(String(data))
      })
      socket.once('open', () => {
        for (const frame of [hello, ...more]) socket.send(frame)
      })
      socket.once('close', (code) => resolve({ frames, code }))
    })
  const kinds = (frames: string[]) => frames.map((f) => (JSON.parse(f) as { weft: string }).weft)

  it('PROV-6.10 with a secret, a peer that connects gets no proof before it proved itself (no offline oracle)', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network, { secret: RIGHT, handshakeTimeout: 300 })
    await a.connect()
    // An intruder without the secret connects and says hello, then waits for a's proof.
    const waited = await intruder(a, helloFor(a.room, { peer: 'zzintruder', auth: true }))
    expect(waited.code).toBe(4009) // handshake timeout
    expect(kinds(waited.frames)).toEqual(['lan-hello'])
    // One that sends a made-up proof is refused, still without a proof from a.
    const madeUp = JSON.stringify({ weft: 'lan-proof', proof: Buffer.alloc(32, 7).toString('base64') })
    const guessed = await intruder(a, helloFor(a.room, { peer: 'zzguesser', auth: true }), madeUp)
    expect(guessed.code).toBe(4004)
    expect(kinds(guessed.frames)).toEqual(['lan-hello'])
    // Peers with the secret still join (the dialer proves first, then the acceptor).
    const b = lan(network, { secret: RIGHT })
    await joined(a, b)
  })

  it('PROV-6.11 unproven connections cannot keep an honest peer out: per-address cap, the oldest replaced', async () => {
    room++
    const network = new MemoryLanNetwork()
    // `victim` accepts (the higher id); the honest peer dials it. Handshakes never time out during the test.
    const victim = lan(network, { peerId: 'zz-victim', handshakeTimeout: 60_000 })
    await victim.connect()
    const stalled = async (localAddress: string) => {
      const socket = new WebSocket(`ws://127.0.0.1:${victim.port}/`, { localAddress })
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve())
        socket.once('error', reject)
      })
      cleanups.push(() => socket.terminate())
      return { socket, closed }
    }
    // One address: 4 unfinished handshakes at most; the 5th is refused.
    const fromOne = []
    for (let i = 0; i < 4; i++) fromOne.push(await stalled('127.0.0.2'))
    const fifth = await stalled('127.0.0.2')
    expect(await fifth.closed).toBe(4011) // ServerFull
    // Many addresses: all 32 slots held by connections that never say anything...
    for (let i = 0; i < 28; i++) await stalled(`127.0.0.${10 + Math.floor(i / 4)}`)
    // ...and the honest peer (127.0.0.1) still joins, in place of the oldest.
    const honest = lan(network, { peerId: 'aa-honest', handshakeTimeout: 60_000 })
    await joined(honest, victim)
    expect(await fromOne[0]!.closed).toBe(4011)
  })

  it('PROV-6.12 the advertised room tag is salted: fresh per run, unlike the plain hash, still matched by peers', async () => {
    room++
    const network = new MemoryLanNetwork()
    const adverts: Array<{ peer: string; room: string; salt: string }> = []
    const recording = (): LanDiscovery => {
      const inner = network.discovery()
      return {
        start: (self, handlers) => {
          adverts.push({ peer: self.peer, room: self.room, salt: self.salt })
          return inner.start(self, handlers)
        },
        stop: () => inner.stop(),
      }
    }
    const a = lan(network, { discovery: recording() })
    const b = lan(network, { discovery: recording() })
    await joined(a, b)
    b.disconnect()
    await b.whenStopped()
    await joined(a, b)
    const plain = createHash('sha256').update(`weft-lan/1\0${a.room}`).digest('hex').slice(0, 32)
    expect(adverts).toHaveLength(3)
    expect(new Set(adverts.map((x) => x.room)).size).toBe(3) // two peers, and b's second run: three tags
    expect(new Set(adverts.map((x) => x.salt)).size).toBe(3)
    for (const x of adverts) {
      expect(x.room).not.toBe(plain)
      expect(x.room).toBe(roomTag(a.room, x.salt))
      expect(x.room).not.toBe(roomTag('another room', x.salt))
    }
  })
})
