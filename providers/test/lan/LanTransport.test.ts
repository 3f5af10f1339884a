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
  roomTag,
  type LanTransportOptions,
} from '../../src/lan/index.js'
import { encodeHello, newNonce, parseHello } from '../../src/lan/lanHandshake.js'

// Unit tests in one process: transports listen on 127.0.0.1 and find each other through MemoryLanNetwork, so no
// multicast is sent. Real mDNS between network namespaces: LanTransport.netns.test.ts. Rule ids: docs/guides/lan.md.

let room = 0
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
    const a = lan(network, { secret: 'right' })
    const bad = lan(network, { secret: 'wrong' })
    const joins: string[] = []
    a.on('peer-joined', ({ peer }) => joins.push(`a:${peer}`))
    bad.on('peer-joined', ({ peer }) => joins.push(`bad:${peer}`))
    const refusedByA = nextError(a, WeftErrorCode.AuthDenied)
    const refusedByBad = nextError(bad, WeftErrorCode.AuthDenied)
    await Promise.all([a.connect(), bad.connect()])
    const [ea, eb] = await Promise.all([refusedByA, refusedByBad])
    expect(ea.peer).toBe(bad.localPeer)
    expect(eb.peer).toBe(a.localPeer)
    const good = lan(network, { secret: 'right' })
    await joined(a, good)
    expect(joins.sort()).toEqual([`a:${good.localPeer}`])
    expect([...a.peers]).toEqual([good.localPeer])
    expect(bad.peers.size).toBe(0)
  })

  it('PROV-6.2 a peer without a secret is refused by a peer that has one', async () => {
    room++
    const network = new MemoryLanNetwork()
    const a = lan(network, { secret: 'right' })
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
        frame: JSON.stringify({ weft: 'lan-hello', v: 1, peer: 'x y', room: 'r', nonce: 'n', auth: false }),
        code: 4001,
      },
      { frame: 'x'.repeat(5000), code: 4001 },
      { frame: new Uint8Array([0, 1, 2, 3]), code: 4001 },
      {
        frame: encodeHello({
          version: LAN_PROTOCOL_VERSION,
          peer: 'intruder',
          room: roomTag('another room'),
          nonce: newNonce(),
          auth: false,
        }),
        code: 4005,
      },
      {
        frame: encodeHello({
          version: 99,
          peer: 'future',
          room: roomTag(a.room),
          nonce: newNonce(),
          auth: false,
        }),
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
        socket.send(
          encodeHello({
            version: LAN_PROTOCOL_VERSION,
            peer: 'zzzz',
            room: hello.room,
            nonce: newNonce(),
            auth: false,
          }),
        )
      })
    })
    const port = (server.address() as AddressInfo).port
    cleanups.push(
      network.announce({ peer: 'zzzz', room: roomTag(a.room), version: LAN_PROTOCOL_VERSION, port }),
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

  it('PROV-6.7 rejects invalid options', () => {
    expect(() => new LanTransport({ room: '' })).toThrow(/room/)
    expect(() => new LanTransport({ room: 'r', peerId: 'has space' })).toThrow(/peerId/)
    expect(() => new LanTransport({ room: 'r', secret: '' })).toThrow(/secret/)
  })
})
