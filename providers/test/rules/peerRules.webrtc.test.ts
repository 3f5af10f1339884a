/**
 * RULES-6 over real WebRTC (@roamhq/wrtc): each WebRtcTransport in its own process (one WebRTC peer per process), the
 * documents and sessions here. The checking peer sits in two rooms' worth of connections, so the third peer hears the
 * hostile one only through it: hostile —(WebRTC room 1)— honest, checking —(WebRTC room 2)— third (no rules).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncSession, type DocHandleEvents } from '@weft/core'
import { openDoc } from '../../src/index.js'
import { PeerProcess } from '../webrtc/support/PeerProcess.js'
import { RemoteTransport } from '../webrtc/support/RemoteTransport.js'
import { startTestSignalingServer, type TestSignalingServer } from '../webrtc/support/testSignalingServer.js'
import { lockRules, meshed, rawMove, seeded, shapesOf, xBecomes, xOf } from './peerRulesFixture.js'

type Refused = Parameters<DocHandleEvents['refused']>[0]

let server: TestSignalingServer
let procs: PeerProcess[] = []

beforeAll(async () => {
  ;[server, ...procs] = await Promise.all([
    startTestSignalingServer(),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
  ])
  // Four child processes start in parallel: on a loaded machine that takes longer than the default hook timeout.
}, 90_000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()))
  await server?.close()
  expect(procs.flatMap((p) => p.faults)).toEqual([])
})

describe('peer rules over WebRtcTransport (RULES-6)', () => {
  it('RULES-6.2: a hostile WebRTC peer’s move of a locked shape is refused by the checking peer, never reaches the peer behind it; the honest peers converge', async () => {
    const [procHostile, procHonest1, procHonest2, procThird] = procs as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    const room = (n: number) => ({ room: `rules-${n}`, signaling: [server.url] })
    const [toHostile, toThird, hostileTransport, thirdTransport] = await Promise.all([
      RemoteTransport.create(procHonest1, room(1)),
      RemoteTransport.create(procHonest2, room(2)),
      RemoteTransport.create(procHostile, room(1)),
      RemoteTransport.create(procThird, room(2)),
    ])
    const docId = 'board-rules'
    const honest = await openDoc({
      docId,
      doc: seeded(),
      transports: [toHostile, toThird],
      rules: { rules: lockRules },
      connect: false,
    })
    const third = await openDoc({ docId, doc: seeded(), transports: [thirdTransport], connect: false })
    const hostile = new SyncSession({ doc: seeded() }) // plain Yjs writes, no rules: it passes on anything
    hostile.addTransport(hostileTransport)
    const refusedAll: Refused[] = []
    const thirdRefused: Refused[] = []
    honest.on('refused', (e) => refusedAll.push(e))
    third.on('refused', (e) => thirdRefused.push(e))
    try {
      await Promise.all([toHostile, toThird, hostileTransport, thirdTransport].map((t) => t.connect()))
      await Promise.all([meshed(honest.session, 2), meshed(third.session, 1), meshed(hostile, 1)])

      const refused = new Promise<Refused>((resolve) => honest.once('refused', resolve))
      rawMove(hostile.doc, 'a', 999) // alice's lock, written around the schema and the rules
      const event = await refused
      expect(event).toMatchObject({
        transport: toHostile,
        peer: hostileTransport.localPeer,
        ruleId: 'shapes.update',
        path: ['shapes', 'a'],
        told: false,
      })

      // Written after the refusal: once the third peer's move is back from the hostile one and the checking peer's
      // own move reached both, everything the checking peer passed on has arrived (each connection is in order).
      rawMove(third.doc, 'b', 20)
      await xBecomes(hostile.doc, 'b', 20)
      rawMove(honest.doc, 'b', 30)
      await Promise.all([xBecomes(third.doc, 'b', 30), xBecomes(hostile.doc, 'b', 30)])
      expect(xOf(honest.doc, 'a')).toBe(10)
      expect(xOf(third.doc, 'a')).toBe(10)
      expect(xOf(hostile.doc, 'a')).toBe(999) // its own state: shown to nobody who checks
      expect(shapesOf(third.doc)).toEqual(shapesOf(honest.doc))
      expect(refusedAll.map((e) => e.ruleId)).toEqual(['shapes.update'])
      expect(thirdRefused).toEqual([])
    } finally {
      hostile.destroy()
      hostileTransport.destroy()
      await Promise.all([honest.destroy(), third.destroy()])
    }
  })
})
