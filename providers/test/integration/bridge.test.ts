import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BridgePeer } from './support/BridgePeer.js'
import { startWeftServer, type WeftServer } from './support/weftServer.js'

// A real `weft serve` (relay + signaling) and three peer processes: A only on WebRTC, B on WebRTC and the relay, C
// only on the relay. A and C never meet; B's one SyncSession bridges them. Rules: SYNC-3.2 (updates cross a bridge),
// SYNC-6.1 (presence too), SYNC-6.2 and RELAY-6.3 (when the bridge goes, what came only through it goes too).

/** y-protocols' awareness timeout: without the path-close removal, a ghost would stay this long. */
const AWARENESS_TIMEOUT_MS = 30_000

let server: WeftServer
let room = 0
const running: BridgePeer[] = []

beforeAll(async () => {
  server = await startWeftServer()
})
afterEach(async () => {
  const peers = running.splice(0)
  await Promise.all(peers.map((p) => p.kill()))
  expect(peers.flatMap((p) => p.faults)).toEqual([])
})
afterAll(async () => {
  await server?.stop()
})

/** Opens A, B and C in a fresh room and waits until every path is synced. */
const bridge = async (options: { peerTimeoutOfA?: number } = {}) => {
  const name = `bridge-${++room}`
  const signaling = `ws://127.0.0.1:${server.port}/signal`
  const opened = await Promise.allSettled([
    BridgePeer.open({
      room: name,
      name: 'A',
      signaling,
      ...(options.peerTimeoutOfA === undefined ? {} : { peerTimeout: options.peerTimeoutOfA }),
    }),
    BridgePeer.open({ room: name, name: 'B', signaling, relayUrl: server.relayUrl }),
    BridgePeer.open({ room: name, name: 'C', relayUrl: server.relayUrl }),
  ])
  for (const o of opened) if (o.status === 'fulfilled') running.push(o.value)
  const [a, b, c] = opened.map((o) => {
    if (o.status === 'rejected') throw o.reason
    return o.value
  }) as [BridgePeer, BridgePeer, BridgePeer]
  const [pathsA, pathsB, pathsC] = await Promise.all([a.waitPaths(1), b.waitPaths(2), c.waitPaths(1)])
  // A and C have no path to each other: only B connects them.
  expect(pathsA).toEqual(['webrtc'])
  expect(pathsB).toEqual(['relay', 'webrtc'])
  expect(pathsC).toEqual(['relay'])
  return { a, b, c }
}

describe('bridge: a peer on WebRTC and the relay connects a WebRTC-only peer and a relay-only peer', () => {
  it('SYNC-3.2 SYNC-6.1 edits and presence cross the bridge both ways', async () => {
    const { a, b, c } = await bridge()
    await a.request({ cmd: 'insert', text: 'from A over WebRTC;' })
    expect(await c.waitText('from A over WebRTC;')).toBe('from A over WebRTC;')
    await c.request({ cmd: 'insert', text: 'from C over the relay;' })
    expect(await a.waitText('from C over the relay;')).toBe('from A over WebRTC;from C over the relay;')
    expect(await b.waitText('from C over the relay;')).toBe('from A over WebRTC;from C over the relay;')

    expect(await a.waitPresence(['B', 'C'])).toEqual(['B', 'C'])
    expect(await c.waitPresence(['A', 'B'])).toEqual(['A', 'B'])
    expect(await b.waitPresence(['A', 'C'])).toEqual(['A', 'C'])
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([])
  })

  it('SYNC-6.2 RELAY-6.3 when the bridge leaves, A and C stop seeing each other (no ghosts) well before the awareness timeout', async () => {
    const { a, b, c } = await bridge()
    await Promise.all([a.waitPresence(['B', 'C']), c.waitPresence(['A', 'B'])])
    const started = performance.now()
    const gone = Promise.all([a.waitPresence([], ['B', 'C']), c.waitPresence([], ['A', 'B'])])
    await b.request({ cmd: 'destroy' })
    expect(await gone).toEqual([[], []])
    const ms = performance.now() - started
    console.log(`presence gone on both sides ${ms.toFixed(0)} ms after the bridge left`)
    expect(ms).toBeLessThan(AWARENESS_TIMEOUT_MS)
    // Each side still works on its own.
    await a.request({ cmd: 'insert', text: 'A alone;' })
    expect(await a.waitText('A alone;')).toContain('A alone;')
  })

  it('SYNC-6.2 RELAY-6.3 when the bridge is killed, A and C stop seeing each other within the peer timeout', async () => {
    const peerTimeout = 3000
    const { a, b, c } = await bridge({ peerTimeoutOfA: peerTimeout })
    await Promise.all([a.waitPresence(['B', 'C']), c.waitPresence(['A', 'B'])])
    const started = performance.now()
    const goneFromC = c.waitPresence([], ['A', 'B']).then(() => performance.now() - started)
    const goneFromA = a.waitPresence([], ['B', 'C']).then(() => performance.now() - started)
    await b.kill()
    const [msC, msA] = await Promise.all([goneFromC, goneFromA])
    console.log(
      `after SIGKILL of the bridge: presence gone at C (relay) in ${msC.toFixed(0)} ms, at A (WebRTC, peerTimeout ${peerTimeout} ms) in ${msA.toFixed(0)} ms`,
    )
    // The relay sees the socket close at once; A notices the silent WebRTC peer after its peerTimeout.
    expect(msC).toBeLessThan(peerTimeout)
    expect(msA).toBeLessThan(AWARENESS_TIMEOUT_MS)
  })
})
