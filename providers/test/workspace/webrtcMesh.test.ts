import * as Y from 'yjs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SyncSession, applyStoredDoc, docId, type PeerId } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace, type PeerSummaryReport } from '../../src/index.js'
import { DocMux } from '../../src/workspace/DocMux.js'
import { workspaceRoom } from '../../src/workspace/WorkspaceWebRtc.js'
import { PeerProcess } from '../webrtc/support/PeerProcess.js'
import { RemoteTransport } from '../webrtc/support/RemoteTransport.js'
import { startTestSignalingServer, type TestSignalingServer } from '../webrtc/support/testSignalingServer.js'
import { textBecomes } from '../webrtc/support/weftPeer.js'
import { seedCatalogue } from './support/memoryMesh.js'

// Two workspaces over real WebRTC (@roamhq/wrtc): each side's ONE WebRtcTransport (the room W/.workspace, what
// WorkspaceWebRtc makes) runs in its own process (one native WebRTC peer per process); the DocMux, the documents
// and their sessions run here. Each test gets its own two processes: a second native peer connection in a process
// that still holds the first test's one crashed the process (SIGSEGV) under CI's load.
let server: TestSignalingServer
let procA: PeerProcess
let procB: PeerProcess

beforeEach(async () => {
  ;[server, procA, procB] = await Promise.all([
    startTestSignalingServer(),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
  ])
})

afterEach(async () => {
  await Promise.all([procA?.kill(), procB?.kill()])
  await server?.close()
  expect([...(procA?.faults ?? []), ...(procB?.faults ?? [])]).toEqual([])
})

const side = async (proc: PeerProcess) => {
  const base = await RemoteTransport.create(proc, { room: workspaceRoom('mesh'), signaling: [server.url] })
  const joined: PeerId[] = []
  base.on('peer-joined', ({ peer }) => joined.push(peer))
  const mux = new DocMux('mesh', base)
  const docs = new Map<string, { doc: Y.Doc; session: SyncSession }>()
  const open = (d: string) => {
    const doc = new Y.Doc()
    const session = new SyncSession({ doc })
    const transport = mux.transportFor(d)
    session.addTransport(transport)
    transport.connect()
    docs.set(d, { doc, session })
    return { doc, session, transport }
  }
  return { base, mux, joined, open, docs }
}

describe('WorkspaceWebRtc: one mesh per workspace', () => {
  it('WS-PEER-5: three documents over one signaling subscription and one peer connection; a document opened later joins without a new connection', async () => {
    const a = await side(procA)
    const b = await side(procB)
    const a1 = a.open('notes')
    const a2 = a.open('todo')
    const b1 = b.open('notes')
    const b2 = b.open('todo')
    a1.doc.getText('t').insert(0, 'notes from a')
    b2.doc.getText('t').insert(0, 'todo from b')
    await Promise.all([
      textBecomes(b1.doc.getText('t'), 'notes from a'),
      textBecomes(a2.doc.getText('t'), 'todo from b'),
    ])
    // ONE subscription per side: the workspace's room, nothing per document.
    expect(server.subscriberCount(workspaceRoom('mesh'))).toBe(2)
    expect(server.subscriberCount('mesh/notes')).toBe(0)
    expect([a.joined.length, b.joined.length]).toEqual([1, 1])

    // A third document, opened later on both sides: it rides the existing connection.
    const a3 = a.open('later')
    const b3 = b.open('later')
    const peered = new Promise<void>((resolve) => {
      const check = () => b3.transport.peers.size === 1 && resolve()
      b3.transport.on('peer-joined', check)
      check()
    })
    await peered
    a3.doc.getText('t').insert(0, 'late')
    await textBecomes(b3.doc.getText('t'), 'late')
    b1.doc.getText('t').insert(0, 'live: ')
    await textBecomes(a1.doc.getText('t'), 'live: notes from a')
    expect([a.joined.length, b.joined.length]).toEqual([1, 1]) // no new peer connection
    expect([a.base.peers.size, b.base.peers.size]).toEqual([1, 1])
    // Each document's peers are exactly the remote side (the base transport's peer).
    expect([...a3.transport.peers]).toEqual([...a.base.peers])

    for (const s of [a, b]) {
      for (const { session, doc } of s.docs.values()) {
        session.destroy()
        doc.destroy()
      }
      s.mux.close()
    }
  })
})

describe('WorkspaceWebRtc: workspaces', () => {
  it('WS-PEER-5, WS-PEER-2: two workspaces over one mesh find their 3 differing documents among 300 and sync only those', async () => {
    const W = 'mesh2'
    const stores = [new MemoryDocStore(), new MemoryDocStore()] as const
    const copies = new Map<string, Y.Doc>()
    for (let i = 0; i < 300; i++) {
      const doc = new Y.Doc()
      doc.getText('t').insert(0, `document ${i}`)
      const update = Y.encodeStateAsUpdate(doc)
      for (const s of stores) await s.append(docId(`${W}/d${i}`), update)
      copies.set(`d${i}`, doc)
    }
    const change = async (store: MemoryDocStore, d: string, text: string) => {
      const doc = copies.get(d)!
      const before = Y.encodeStateVector(doc)
      doc.getText('t').insert(0, text)
      await store.append(docId(`${W}/${d}`), Y.encodeStateAsUpdate(doc, before))
    }
    await seedCatalogue(stores, W, [...copies.keys()]) // a summary syncs only catalogued documents (WS-PEER-6)
    await change(stores[0], 'd1', 'A ')
    await change(stores[0], 'd150', 'A ')
    await change(stores[1], 'd299', 'B ')
    const open = async (proc: PeerProcess, store: MemoryDocStore) => {
      const base = await RemoteTransport.create(proc, { room: workspaceRoom(W), signaling: [server.url] })
      const mux = new DocMux(W, base)
      const loaded: string[] = []
      const transportFor = mux.transportFor.bind(mux)
      mux.transportFor = (d: string) => {
        loaded.push(d)
        return transportFor(d)
      }
      const reports: PeerSummaryReport[] = []
      mux.on('peer-summary', (r) => reports.push(r))
      const workspace = await openWorkspace({ id: W, store, transports: [mux] })
      return { workspace, mux, loaded, reports }
    }
    const a = await open(procA, stores[0])
    const b = await open(procB, stores[1])
    const done = (s: typeof a) =>
      s.reports.some((r) => r.differing.length === 3) &&
      s.workspace.loaded.length === 0 &&
      s.workspace.progress.docs === s.workspace.progress.docsDone
    await new Promise<void>((resolve) => {
      const check = () => done(a) && done(b) && resolve()
      for (const s of [a, b]) {
        s.mux.on('peer-summary', check)
        s.workspace.on('progress', check)
        s.workspace.on('status', check)
      }
      check()
    })
    for (const s of [a, b]) {
      expect(new Set(s.loaded)).toEqual(new Set(['.catalogue', 'd1', 'd150', 'd299']))
      expect(s.reports.at(-1)!.bytes).toBeLessThan(4096) // 2.8 KB here
    }
    for (const d of ['d1', 'd150', 'd299'])
      for (const store of stores) {
        const stored = await store.load(docId(`${W}/${d}`))
        const doc = new Y.Doc()
        applyStoredDoc(doc, stored!, null)
        expect(doc.getText('t').toString()).toBe(copies.get(d)!.getText('t').toString())
      }
    await a.workspace.destroy()
    await b.workspace.destroy()
  })
})
