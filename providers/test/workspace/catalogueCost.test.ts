import { describe, expect, it } from 'vitest'
import { MemoryDocStore } from '@weft/core/testing'
import { choosePreload, openWorkspace, type CatalogueRecord, type PreloadPolicy } from '../../src/index.js'
import { CatalogueDocuments } from '../../src/workspace/catalogue.js'

const SEED = 2_000

/** A workspace with no network over a fresh memory store, preloading by `policy`, with clock `now`. */
const openOffline = (policy: PreloadPolicy | undefined, now: () => number) =>
  openWorkspace({ id: 'w', store: new MemoryDocStore(), connect: false, preload: policy, now })

/** A workspace (offline) whose catalogue holds `SEED` records, and a counter of the records read from it. */
const seeded = async (policy?: PreloadPolicy) => {
  let clock = 10_000
  const ws = await openOffline(policy, () => ++clock)
  const docs = ws.typed.root.documents
  ws.catalogue.doc.transact(() => {
    for (let i = 0; i < SEED; i++)
      docs.insert({ title: `d${i}`, createdAt: i, updatedAt: i } as never, { id: `d${i}` })
  })
  void ws.list.entries // the list's one whole read
  await ws.flushed() // and the purge check of the seeded records
  const counter = { reads: 0 }
  const get = docs.get.bind(docs)
  const values = docs.values.bind(docs)
  docs.get = (id: string) => {
    counter.reads++
    return get(id)
  }
  docs.values = () => {
    const all = values()
    counter.reads += all.length
    return all
  }
  return { ws, counter }
}

const policies: Array<[string, PreloadPolicy | undefined]> = [
  ['no policy', undefined],
  ["'all'", 'all'],
  ['recent 10', { recent: 10 }],
  ['pinned', { pinned: ['d1', 'n3'] }],
  ['a predicate', (e) => e.title.endsWith('7')],
]

describe('workspace catalogue cost (issue #15)', () => {
  for (const [name, policy] of policies)
    it(`WS-CLIENT-1.5: 100 creates into a ${SEED}-record catalogue read O(100) records (${name})`, async () => {
      const { ws, counter } = await seeded(policy)
      for (let i = 0; i < 100; i++) {
        expect(ws.create({ title: `n${i}`, id: `n${i}` }).ok).toBe(true)
        expect(ws.list.entries[0]?.id).toBe(`n${i}`) // newest first: read after every create
      }
      await ws.flushed() // the purge checks of the changed records ran too
      expect(counter.reads).toBeLessThanOrEqual(100 * 6)
      expect(ws.list.entries).toHaveLength(SEED + 100)
      await ws.destroy()
    })

  it('WS-CLIENT-1.5: updates and deletes read only their records; list.entries re-reads only the changed ids', async () => {
    const { ws, counter } = await seeded({ recent: 5 })
    for (let i = 0; i < 50; i++) {
      expect(ws.update(`d${i}`, { title: `u${i}` }).ok).toBe(true)
      expect(ws.list.get(`d${i}`)?.title).toBe(`u${i}`)
    }
    for (let i = 50; i < 100; i++) expect(ws.delete(`d${i}`).ok).toBe(true)
    expect(ws.list.deleted).toHaveLength(50)
    await ws.flushed()
    expect(counter.reads).toBeLessThanOrEqual(100 * 5)
    await ws.destroy()
  })

  it('WS-CLIENT-4.1: the preload set kept from each change equals choosePreload over the whole catalogue', async () => {
    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed % n
    }
    const all: Array<PreloadPolicy | undefined> = policies
      .map(([, p]) => p)
      .concat([{ recent: 0 }, { recent: 3 }])
    for (const policy of all) {
      let clock = 1_000
      const ws = await openOffline(policy, () => clock)
      const docs = ws.typed.root.documents
      for (let step = 0; step < 300; step++) {
        const id = random(3) === 0 ? `n${random(10)}` : `d${random(30)}`
        const op = random(5)
        if (random(4) === 0) clock += 1 // ties too
        if (op === 0) ws.create({ title: id, id })
        else if (op === 1) ws.update(id, { title: `${id}${random(10)}` })
        else if (op === 2) ws.delete(id)
        else if (op === 3)
          docs.update(id, { deleted: false } as never) // a raw undelete: the tombstone holds (WS-PURGE-10)
        else docs.delete(id) // a record removed
        // The whole catalogue read afresh, with the tombstone rule.
        const want = choosePreload(new CatalogueDocuments(ws.typed).values() as CatalogueRecord[], policy)
        const got = new Set(
          [...ws.list.entries, ...ws.list.deleted].filter((e) => e.preloaded).map((e) => e.id),
        )
        expect([...got].sort(), `step ${step}`).toEqual([...want].sort())
      }
      await ws.destroy()
    }
  })
})
