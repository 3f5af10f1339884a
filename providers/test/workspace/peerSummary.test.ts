import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import { applyStoredDoc, docId, type DocStore } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { WorkspaceBroadcast, openWorkspace, type Workspace } from '../../src/index.js'
import type { PeerSummaryReport } from '../../src/index.js'
import { seedCatalogue } from './support/memoryMesh.js'

const W = 'peers'
const N = 2000
const name = (i: number) => `d${String(i).padStart(4, '0')}`

/** The text of document `d` as stored in `store`. */
const storedText = async (store: DocStore, d: string): Promise<string> => {
  const stored = await store.load(docId(`${W}/${d}`))
  const doc = new Y.Doc()
  if (stored) applyStoredDoc(doc, stored, null)
  return doc.getText('t').toString()
}

/** Two stores holding the same N documents (the same bytes), then 3 changed: two edits and one deletion. */
const seed = async (): Promise<{ a: MemoryDocStore; b: MemoryDocStore; copies: Map<string, Y.Doc> }> => {
  const a = new MemoryDocStore()
  const b = new MemoryDocStore()
  const copies = new Map<string, Y.Doc>()
  for (let i = 0; i < N; i++) {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, `document ${i}`)
    const update = Y.encodeStateAsUpdate(doc)
    await a.append(docId(`${W}/${name(i)}`), update)
    await b.append(docId(`${W}/${name(i)}`), update)
    copies.set(name(i), doc)
  }
  const change = async (store: MemoryDocStore, d: string, edit: (t: Y.Text) => void) => {
    const doc = copies.get(d)!
    const before = Y.encodeStateVector(doc)
    edit(doc.getText('t'))
    await store.append(docId(`${W}/${d}`), Y.encodeStateAsUpdate(doc, before))
  }
  // Both catalogues hold a record of each document: a peer summary syncs only catalogued ones (WS-PEER-6).
  await seedCatalogue([a, b], W, [...copies.keys()])
  await change(a, name(7), (t) => t.insert(0, 'A: '))
  await change(b, name(1234), (t) => t.insert(0, 'B: '))
  // A deletion leaves the state vector as it was: the digest input holds the delete set too (WS-PEER-3).
  await change(a, name(1999), (t) => t.delete(0, 9))
  return { a, b, copies }
}

/** A tab's workspace over one WorkspaceBroadcast, recording which documents were loaded and the summary reports. */
const tab = async (store: DocStore, prefix: string) => {
  const source = new WorkspaceBroadcast({ workspace: W, prefix })
  const loaded: string[] = []
  const transportFor = source.transportFor.bind(source)
  source.transportFor = (d: string) => {
    loaded.push(d)
    return transportFor(d)
  }
  const reports: PeerSummaryReport[] = []
  source.on('peer-summary', (r) => reports.push(r))
  const workspace = await openWorkspace({ id: W, store, transports: [source] })
  return { workspace, source, loaded, reports }
}

/** Resolves once `check()` holds, checked after each summary report and status change of the tabs. */
const until = (tabs: Array<Awaited<ReturnType<typeof tab>>>, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      for (const t of tabs) {
        t.source.off('peer-summary', test)
        t.workspace.off('status', test)
        t.workspace.off('progress', test)
      }
      resolve()
    }
    for (const t of tabs) {
      t.source.on('peer-summary', test)
      t.workspace.on('status', test)
      t.workspace.on('progress', test)
    }
    test()
  })

const idle = (t: Awaited<ReturnType<typeof tab>>, differing: number) =>
  t.reports.some((r) => r.differing.length === differing) &&
  t.workspace.loaded.length === 0 &&
  t.workspace.progress.docs === t.workspace.progress.docsDone

const open: Workspace[] = []
afterEach(async () => {
  for (const w of open.splice(0)) await w.destroy()
})

describe('peer summary over a workspace-wide source', () => {
  it('WS-PEER-2, WS-PEER-4: two replicas with 2,000 equal documents and 3 changed exchange a few KB and sync only the 3', async () => {
    const { a, b, copies } = await seed()
    const prefix = `weft-peers-${Math.random()}:`
    const ta = await tab(a, prefix)
    const tb = await tab(b, prefix)
    open.push(ta.workspace, tb.workspace)
    const changed = [name(7), name(1234), name(1999)]
    await until([ta, tb], () => idle(ta, 3) && idle(tb, 3))

    for (const t of [ta, tb]) {
      const last = t.reports[t.reports.length - 1]!
      expect(new Set(last.differing)).toEqual(new Set(changed)) // WS-DIGEST-3 on both sides
      expect(last.documents).toBe(N)
      expect(last.bytes).toBeLessThan(4096) // the whole exchange, both directions, as one side counts it
      // Only the catalogue and the 3 differing documents were loaded: 1,997 equal ones cost nothing.
      expect(new Set(t.loaded)).toEqual(new Set(['.catalogue', ...changed]))
    }
    // Every change reached the other replica, merged.
    for (const d of changed) {
      const want = copies.get(d)!.getText('t').toString()
      expect(await storedText(a, d)).toBe(want)
      expect(await storedText(b, d)).toBe(want)
    }
    expect(await storedText(a, name(8))).toBe('document 8')
  })

  it('WS-PEER-3: the next meeting decodes only the documents written since (the digest cache in W/~peers)', async () => {
    const { a, b } = await seed()
    const prefix = `weft-peers-${Math.random()}:`
    const ta = await tab(a, prefix)
    const tb = await tab(b, prefix)
    await until([ta, tb], () => idle(ta, 3) && idle(tb, 3))
    expect(ta.reports[0]!.decoded).toBe(N) // the first meeting builds the cache
    await ta.workspace.destroy()
    await tb.workspace.destroy()

    const ta2 = await tab(a, prefix)
    const tb2 = await tab(b, prefix)
    open.push(ta2.workspace, tb2.workspace)
    await until([ta2, tb2], () => ta2.reports.length > 0 && tb2.reports.length > 0)
    for (const t of [ta2, tb2]) {
      expect(t.reports[0]!.decoded).toBeLessThanOrEqual(3) // the 3 written by the first meeting's syncs
      expect(t.reports[0]!.differing).toEqual([])
      expect(t.reports[0]!.messages).toBeLessThanOrEqual(2) // one fingerprint each way at most
    }
    expect(ta2.loaded).toEqual(['.catalogue'])
  })
})

describe('peer summary: bad input', () => {
  it('WS-PEER-2: a malformed summary message from a tab ends that meeting only; the workspace and its documents go on', async () => {
    const { a, b } = await seed()
    const prefix = `weft-peers-${Math.random()}:`
    const ta = await tab(a, prefix)
    open.push(ta.workspace)
    const errors: unknown[] = []
    ta.workspace.on('error', (e) => errors.push(e))
    // A tab that announces the catalogue (so it is met), then sends junk as a summary message.
    const rogue = new BroadcastChannel(`${prefix}${W}`)
    const met = new Promise<void>((resolve) => {
      rogue.onmessage = (ev: MessageEvent) => {
        const e = ev.data as { t: string; to?: string }
        if (e.t === 'here' && e.to === 'zzz-rogue') resolve()
      }
    })
    rogue.postMessage({ t: 'hello', from: 'zzz-rogue', doc: '.catalogue' })
    await met
    // ta's id sorts before 'zzz-rogue': it initiates, and its first message reaches the rogue tab.
    const first = await new Promise<Uint8Array>((resolve) => {
      rogue.onmessage = (ev: MessageEvent) => {
        const e = ev.data as { t: string; msg?: Uint8Array }
        if (e.t === 'sum') resolve(e.msg!)
      }
    })
    expect(first.byteLength).toBeLessThan(64) // one fingerprint of 2,000 documents
    rogue.postMessage({ t: 'sum', from: 'zzz-rogue', to: ta.source.id, msg: new Uint8Array([9, 9, 9]) })
    // A real tab still meets it and finds the 3 differing documents afterwards.
    const tb = await tab(b, prefix)
    open.push(tb.workspace)
    await until([ta, tb], () => tb.reports.some((r) => r.peer === ta.source.id && r.differing.length === 3))
    rogue.close()
    expect(errors).toEqual([])
    expect(ta.reports.filter((r) => r.peer === 'zzz-rogue')).toHaveLength(1) // its initiate; the junk ended it
  })
})
