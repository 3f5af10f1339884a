import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PeerProcess } from './support/PeerProcess.js'
import { startTestSignalingServer, type TestSignalingServer } from './support/testSignalingServer.js'
import { createWeftPeer, textBecomes, type WeftPeer } from './support/weftPeer.js'

// Two Weft peers over real WebRTC (@roamhq/wrtc), each transport in its own process; the documents and their
// SyncSessions run here. Rules: SYNC-1.x, SYNC-3.x, SYNC-5.x (docs/spec/sync-protocol.md).
let server: TestSignalingServer
let procA: PeerProcess
let procB: PeerProcess
let room = 0
const peers: WeftPeer[] = []

beforeAll(async () => {
  ;[server, procA, procB] = await Promise.all([
    startTestSignalingServer(),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
  ])
})

afterEach(() => {
  for (const p of peers.splice(0)) p.destroy()
})

afterAll(async () => {
  await Promise.all([procA?.kill(), procB?.kill()])
  await server?.close()
  expect([...(procA?.faults ?? []), ...(procB?.faults ?? [])]).toEqual([])
})

const pair = async (extra: { password?: string } = {}): Promise<[WeftPeer, WeftPeer]> => {
  const options = { room: `sync-${++room}`, signaling: [server.url], ...extra }
  const [a, b] = await Promise.all([createWeftPeer(procA, options), createWeftPeer(procB, options)])
  peers.push(a, b)
  return [a, b]
}

const bothSynced = async (a: WeftPeer, b: WeftPeer): Promise<void> => {
  await Promise.all([a.transport.connect(), b.transport.connect()])
  await Promise.all([a.session.whenSynced(), b.session.whenSynced()])
}

describe('WebRtcTransport: Weft peers', () => {
  it('SYNC-1.2 two Weft peers exchange what each lacks, then live edits both ways', async () => {
    const [a, b] = await pair()
    a.text.insert(0, 'from a;')
    b.text.insert(0, 'from b;')
    await bothSynced(a, b)
    expect(a.text.toString()).toBe(b.text.toString())
    expect(a.text.toString()).toContain('from a;')
    expect(a.text.toString()).toContain('from b;')
    expect(a.session.pathInfo(a.transport, b.transport.localPeer)?.weft).toBe(true)

    a.text.insert(0, 'live a;')
    await textBecomes(b.text, a.text.toString())
    b.text.insert(b.text.length, 'live b;')
    await textBecomes(a.text, b.text.toString())
  })

  it('SYNC-5.1 a 1 MB update crosses in chunks of at most 16 KiB, with progress', async () => {
    const [a, b] = await pair()
    await bothSynced(a, b)
    const big = Array.from({ length: 1024 * 1024 }, (_, i) =>
      String.fromCharCode(97 + ((i * 7919) % 26)),
    ).join('')
    const progress: number[] = []
    b.session.on('progress', ({ received, total }) => {
      if (total >= 1024 * 1024) progress.push(received)
    })
    const sentBefore = a.sent.length
    const started = performance.now()
    a.text.insert(0, big)
    await textBecomes(b.text, big)
    const ms = performance.now() - started
    const pieces = a.sent.slice(sentBefore)
    expect(pieces.length).toBeGreaterThanOrEqual(64)
    expect(Math.max(...pieces)).toBeLessThanOrEqual(16 * 1024)
    expect(progress.at(-1)).toBeGreaterThanOrEqual(1024 * 1024)
    console.log(
      `1 MB update over WebRTC (IPC both ends included): ${ms.toFixed(0)} ms, ${pieces.length} chunks`,
    )
  })

  it('password-protected room: peers sync and the signaling server only sees ciphertext', async () => {
    const [a, b] = await pair({ password: 'correct horse' })
    const topic = `sync-${room}`
    a.text.insert(0, 'secret')
    await bothSynced(a, b)
    expect(b.text.toString()).toBe('secret')
    const crossed = server.published.filter((m) => m['topic'] === topic)
    expect(crossed.length).toBeGreaterThan(0)
    for (const m of crossed) {
      expect(typeof m['data']).toBe('string')
      const bytes = Buffer.from(String(m['data']), 'base64').toString('latin1')
      expect(bytes).not.toMatch(/announce|a=fingerprint|candidate:/)
    }
  })

  it('glare: both peers learn of each other at once, both offer, and connect once', async () => {
    const [a, b] = await pair()
    server.hold()
    try {
      await Promise.all([a.transport.connect(), b.transport.connect()])
      const topic = `sync-${room}`
      await server.until(() => server.published.filter((m) => m['topic'] === topic).length >= 2)
    } finally {
      server.release()
    }
    await Promise.all([a.session.whenSynced(), b.session.whenSynced()])
    a.text.insert(0, 'after glare')
    await textBecomes(b.text, 'after glare')
    expect([...a.transport.peers]).toEqual([b.transport.localPeer])
    expect([...b.transport.peers]).toEqual([a.transport.localPeer])
  })
})

describe('WebRtcTransport: signaling servers', () => {
  it('with several URLs, peers find each other through any server that is up (a dead one is skipped)', async () => {
    const dead = await startTestSignalingServer()
    await dead.close()
    const options = { room: `sync-${++room}` }
    const [a, b] = await Promise.all([
      createWeftPeer(procA, { ...options, signaling: [dead.url, server.url] }),
      createWeftPeer(procB, { ...options, signaling: [server.url, dead.url] }),
    ])
    peers.push(a, b)
    a.text.insert(0, 'via the live server')
    await bothSynced(a, b)
    expect(b.text.toString()).toBe('via the live server')
  })

  it('when the signaling server drops everyone, peers stay connected and the transports re-subscribe', async () => {
    const [a, b] = await pair()
    const topic = `sync-${room}`
    await bothSynced(a, b)
    const statuses: string[] = []
    a.transport.on('status', ({ status }) => statuses.push(status))
    const left: string[] = []
    a.transport.on('peer-left', ({ peer }) => left.push(peer))
    server.dropClients()
    await server.until(() => server.subscriberCount(topic) === 0)
    await server.subscribers(topic, 2)
    a.text.insert(0, 'after the drop')
    await textBecomes(b.text, 'after the drop')
    expect(left).toEqual([])
    expect(statuses).toEqual([])
    expect(a.transport.status).toBe('connected')
  })
})

describe('WebRtcTransport: a peer that disappears', () => {
  it('is reported peer-left (peer timed out) while a live idle peer stays', async () => {
    const procC = await PeerProcess.spawn('weft')
    try {
      const options = { room: `sync-${++room}`, signaling: [server.url] }
      const [a, b, c] = await Promise.all([
        createWeftPeer(procA, options),
        createWeftPeer(procB, options),
        createWeftPeer(procC, options),
      ])
      peers.push(a, b, c)
      const meshed = (p: WeftPeer) =>
        new Promise<void>((resolve) => {
          const check = () => (p.session.paths.length === 2 ? resolve() : undefined)
          p.session.on('peer-synced', check)
          check()
        })
      await Promise.all([a.transport.connect(), b.transport.connect(), c.transport.connect()])
      await Promise.all([meshed(a), meshed(b), meshed(c)])
      const leftA: string[] = []
      a.session.on('peer-left', ({ peer }) => leftA.push(peer))
      const cGoneFrom = (p: WeftPeer) =>
        new Promise<string>((resolve) =>
          p.session.on('peer-left', ({ peer, reason }) =>
            peer === c.transport.localPeer ? resolve(reason) : undefined,
          ),
        )
      const gone = Promise.all([cGoneFrom(a), cGoneFrom(b)])
      const started = performance.now()
      await procC.kill()
      const reasons = await gone
      console.log(
        `peer-left after kill: ${(performance.now() - started).toFixed(0)} ms (${reasons.join(', ')})`,
      )
      expect(reasons).toEqual(['peer timed out', 'peer timed out'])
      // B was idle as long as C was silent, and stays.
      expect(leftA).toEqual([c.transport.localPeer])
      expect([...a.transport.peers]).toEqual([b.transport.localPeer])
      b.text.insert(0, 'still here')
      await textBecomes(a.text, 'still here')
    } finally {
      await procC.kill()
    }
  })
})
