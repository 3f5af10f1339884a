import { describe, expect, it } from 'vitest'
import { docId } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { LocalIndex, localIndexKey } from '../../src/workspace/LocalIndex.js'

describe('the local index writes', () => {
  it('WS-CLIENT-6.4, STORE-4.4: the marks of documents loaded together are stored in one commit, each before its load goes on', async () => {
    const store = new SqliteDocStore({ path: ':memory:', durability: 'normal' })
    const index = await LocalIndex.load(store, 'w')
    const commits = store.appendCommits
    // A round of brief syncs: ten documents start loading in one tick, each waiting for its mark.
    const ids = Array.from({ length: 10 }, (_, i) => `d${i}`)
    await Promise.all(ids.map((d) => index.loading(d)))
    expect(store.appendCommits).toBe(commits + 1)
    const meta = (await store.load(docId(localIndexKey('w'))))?.meta ?? {}
    expect(ids.every((d) => meta[`l:${d}`] === '1')).toBe(true)
    // Unloaded in the order they come: the clears and the records too, and the last write wins.
    for (const d of ids) index.unloaded(d, { bytes: 10 })
    index.set('d0', { bytes: 20 })
    await index.flushed()
    const after = (await store.load(docId(localIndexKey('w'))))?.meta ?? {}
    expect(Object.keys(after).filter((k) => k.startsWith('l:'))).toEqual([])
    expect(after['b:d0']).toBe('20')
    expect(after['b:d9']).toBe('10')
    await store.close()
  })
})
