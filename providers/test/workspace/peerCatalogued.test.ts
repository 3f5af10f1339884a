import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { afterEach, describe, expect, it } from 'vitest'
import { docId, type PeerId } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import type { PeerSummaryReport } from '../../src/index.js'
import { MemoryMesh, storedText } from './support/memoryMesh.js'

// Issue #15, security review F2 and F3: a peer's summary named documents outside the catalogue. One 5 KB message of
// 200 made-up ids stopped the victim's background sync until a restart; documents a peer stored without catalogue
// records were copied into every replica's store (and from there to the next replica), never purged.
const W = 'team'

let mesh: MemoryMesh
afterEach(async () => {
  await mesh.close()
})

/** A replica holding catalogued document `real` with text "real content". */
const holder = async (name: string, store = new MemoryDocStore()) => {
  const r = await mesh.replica(name, { store })
  expect(r.ws.create({ id: 'real', title: 'Real' }).ok).toBe(true)
  const doc = await r.ws.open('real')
  doc.doc.getText('t').insert(0, 'real content')
  await r.ws.close('real')
  await r.ws.flushed()
  return r
}

/** Documents of W `store` holds (not the catalogue, not `~` keys). */
const docs = async (store: MemoryDocStore) =>
  (await store.list())
    .map((k) => k.slice(W.length + 1))
    .filter((d) => !d.startsWith('.') && !d.includes('~'))
    .sort()

describe('peers: only catalogued documents are synced from a peer summary (WS-PEER-6)', () => {
  it('WS-PEER-6, WS-PEER-7: one summary message of 200 made-up ids takes no brief-sync slot; a real document still syncs from an honest peer', async () => {
    mesh = new MemoryMesh(W)
    const h = await holder('h')
    const vStore = new MemoryDocStore()
    const v = await mesh.replica('v', { store: vStore })
    // mallory: a raw endpoint of the mesh that answers every hello with here (it looks like a peer holding it).
    const m = mesh.net.transport('zz-mallory')
    m.on('message', ({ from, data }: { from: PeerId; data: Uint8Array }) => {
      if (data[0] !== 64) return
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 65)
      encoding.writeVarString(e, new TextDecoder().decode(data.subarray(2)))
      m.send(encoding.toUint8Array(e), from)
    })
    m.connect()
    const reports: PeerSummaryReport[] = []
    v.mux.on('peer-summary', (r) => reports.push(r))
    mesh.net.link(v.mux.base as never, m)
    // One WS-DIGEST list message (version 1, one unbounded range, mode 2): 200 ids with made-up digests.
    const e = encoding.createEncoder()
    for (const n of [67, 1, 1, 2, 0, 200]) encoding.writeVarUint(e, n)
    const fakes = Array.from({ length: 200 }, (_, i) => `fake${String(i).padStart(3, '0')}`)
    for (const id of fakes) {
      encoding.writeVarString(e, id)
      encoding.writeUint8Array(e, new Uint8Array(16).fill(7))
    }
    await mesh.until(() => v.mux.base.peers.has('zz-mallory' as PeerId))
    m.send(encoding.toUint8Array(e), 'v' as PeerId)
    await mesh.until(() => reports.some((r) => r.peer === 'zz-mallory' && r.differing.length >= 200))
    expect(v.ws.loaded).toEqual([])
    // The honest peer holding `real` joins: its record arrives with the catalogue, the document syncs.
    mesh.net.link(v.mux.base as never, h.mux.base as never)
    await mesh.until(async () => (await storedText(vStore, W, 'real')) === 'real content')
    // Only `real` was ever loaded (mallory's "here" for it keeps its brief sync open until the stall time, WS-PEER-7).
    expect(v.ws.loaded.filter((d) => d !== 'real')).toEqual([])
    expect(await docs(vStore)).toEqual(['real'])
    expect(v.ws.progress.docs).toBe(1)
  }, 20_000)

  it('WS-PEER-6: documents a peer stores without catalogue records are not copied; a record that arrives later makes one eligible', async () => {
    mesh = new MemoryMesh(W)
    const mStore = new MemoryDocStore()
    for (let i = 0; i < 20; i++) {
      const d = new Y.Doc()
      d.getText('t').insert(0, `junk ${i} `.repeat(100))
      await mStore.append(docId(`${W}/junk${i}`), Y.encodeStateAsUpdate(d))
    }
    const m = await holder('m', mStore)
    const vStore = new MemoryDocStore()
    const v = await mesh.replica('v', { store: vStore })
    const reports: PeerSummaryReport[] = []
    v.mux.on('peer-summary', (r) => reports.push(r))
    mesh.net.link(v.mux.base as never, m.mux.base as never)
    await mesh.until(
      async () =>
        reports.some((r) => r.differing.length === 21) &&
        (await storedText(vStore, W, 'real')) === 'real content' &&
        v.ws.loaded.length === 0 &&
        v.ws.progress.docs === v.ws.progress.docsDone,
    )
    expect(await docs(vStore)).toEqual(['real'])
    // A catalogue record of junk3 is written (by the peer that holds it): it syncs now.
    expect(m.ws.create({ id: 'junk3', title: 'now catalogued' }).ok).toBe(true)
    await mesh.until(async () => (await storedText(vStore, W, 'junk3')) === 'junk 3 '.repeat(100))
    await mesh.until(() => v.ws.loaded.length === 0)
    expect(await docs(vStore)).toEqual(['junk3', 'real'])
  }, 20_000)
})
