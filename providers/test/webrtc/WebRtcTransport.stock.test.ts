import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PeerProcess } from './support/PeerProcess.js'
import { startTestSignalingServer, type TestSignalingServer } from './support/testSignalingServer.js'
import { createWeftPeer, textBecomes, type WeftPeer } from './support/weftPeer.js'

// A Weft peer (WebRtcTransport in a child process, SyncSession here) and a stock y-webrtc 10.3 WebrtcProvider (in
// its own child process) in the same room, through the same signaling server. SYNC-2.2: the stock peer is
// answered in plain y-protocols.
let server: TestSignalingServer
let weftProc: PeerProcess
let stock: PeerProcess
let room = 0
const peers: WeftPeer[] = []

beforeAll(async () => {
  ;[server, weftProc, stock] = await Promise.all([
    startTestSignalingServer(),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('stock'),
  ])
})

afterEach(async () => {
  // The stock peer goes first, and the Weft peers only once they saw it leave: y-webrtc on node-webrtc crashes
  // (SIGSEGV in RTCDataChannel::Send) when its remote closes the channel while it is itself closing and sending.
  const gone = peers.map((p) =>
    p.transport.peers.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => p.transport.on('peer-left', resolve)),
  )
  await stock.request({ cmd: 'destroy' })
  await Promise.all(gone)
  for (const p of peers.splice(0)) p.destroy()
})

afterAll(async () => {
  await Promise.all([weftProc?.kill(), stock?.kill()])
  await server?.close()
  expect([...(weftProc?.faults ?? []), ...(stock?.faults ?? [])]).toEqual([])
})

/** Joins the room with `first`, waits until the server has it subscribed, then joins with `second`. */
const inOrder = async (topic: string, first: () => Promise<unknown>, second: () => Promise<unknown>) => {
  await first()
  await server.subscribers(topic, 1)
  await second()
}

const waitStockText = (text: string) => stock.request({ cmd: 'wait-text', text })

/** Senders (`from`) of the plain (unencrypted) offers published in `topic`. */
const offerSenders = (topic: string): unknown[] =>
  server.published
    .filter((m) => m['topic'] === topic)
    .map((m) => m['data'] as Record<string, unknown>)
    .filter((d) => (d['signal'] as Record<string, unknown> | undefined)?.['type'] === 'offer')
    .map((d) => d['from'])

describe('WebRtcTransport with a stock y-webrtc 10.3 peer', () => {
  it('SYNC-2.2 syncs both ways when the Weft peer is in the room first (Weft initiates)', async () => {
    const topic = `stock-${++room}`
    const weft = await createWeftPeer(weftProc, { room: topic, signaling: [server.url] })
    peers.push(weft)
    weft.text.insert(0, 'weft;')
    const joined = new Promise((resolve) => weft.session.on('peer-synced', resolve))
    await inOrder(
      topic,
      () => weft.transport.connect(),
      () => stock.request({ cmd: 'create', options: { room: topic, signaling: [server.url] } }),
    )
    await joined
    expect(offerSenders(topic)).toEqual([weft.transport.localPeer])
    await waitStockText('weft;')
    expect(weft.session.paths.map((p) => weft.session.pathInfo(p.transport, p.peer)?.weft)).toEqual([false])

    await stock.request({ cmd: 'insert', text: 'stock;' })
    await textBecomes(weft.text, 'weft;stock;')
    weft.text.insert(weft.text.length, 'weft again;')
    await waitStockText('weft;stock;weft again;')
  })

  it('password-protected room: syncs both ways when the stock peer is in the room first (stock initiates)', async () => {
    const topic = `stock-${++room}`
    const options = { room: topic, signaling: [server.url], password: 's3cret' }
    const weft = await createWeftPeer(weftProc, options)
    peers.push(weft)
    const synced = new Promise((resolve) => weft.session.on('peer-synced', resolve))
    await inOrder(
      topic,
      async () => {
        await stock.request({ cmd: 'create', options })
        await stock.request({ cmd: 'insert', text: 'from stock;' })
      },
      () => weft.transport.connect(),
    )
    await synced
    await textBecomes(weft.text, 'from stock;')
    weft.text.insert(weft.text.length, 'from weft;')
    await waitStockText('from stock;from weft;')
    const crossed = server.published.filter((m) => m['topic'] === topic)
    expect(crossed.every((m) => typeof m['data'] === 'string')).toBe(true)
  })

  it('an update too large for a stock peer is reported (message-too-large) and that peer dropped', async () => {
    const topic = `stock-${++room}`
    const weft = await createWeftPeer(weftProc, { room: topic, signaling: [server.url] })
    peers.push(weft)
    const synced = new Promise((resolve) => weft.session.on('peer-synced', resolve))
    await inOrder(
      topic,
      () => weft.transport.connect(),
      () => stock.request({ cmd: 'create', options: { room: topic, signaling: [server.url] } }),
    )
    await synced
    const error = weft.transport.nextError('message-too-large')
    const left = new Promise<string>((resolve) =>
      weft.session.on('peer-left', ({ reason }) => resolve(reason)),
    )
    weft.text.insert(0, 'x'.repeat(300 * 1024))
    expect(await error).toMatch(/exceeds the 262144 bytes/)
    expect(await left).toBe('message-too-large')
  })
})
