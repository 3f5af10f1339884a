import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '../../src/ids.js'
import { DocPersistence, type AppendOptions } from '../../src/index.js'
import { OWN_CLIENTS_META } from '../../src/storage/OwnClients.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'
import { writerValue } from '../../src/testing/writerValues.js'

const ID = docId('d')

/** A store that records the meta written with each append. */
class RecordingStore extends MemoryDocStore {
  readonly appended: Array<Readonly<Record<string, string | null>> | undefined> = []
  override append(
    id: ReturnType<typeof docId>,
    update: Uint8Array,
    options?: AppendOptions,
  ): Promise<number> {
    this.appended.push(options?.meta)
    return super.append(id, update, options)
  }
}

const open = async (store: MemoryDocStore, clientID?: number) => {
  const doc = new Y.Doc()
  if (clientID !== undefined) doc.clientID = clientID
  const persistence = await DocPersistence.open({
    doc,
    store,
    docId: ID,
    compactor: null,
    recordOwnClients: true,
  })
  if (!persistence.ownClients) throw new Error('not recording')
  return { doc, persistence }
}

describe('the client ids this device wrote with (RULES-5.11)', () => {
  it('RULES-5.11: an id is recorded in the same append as its first items, then not rewritten; a later session knows the earlier id', async () => {
    const store = new RecordingStore()
    const first = await open(store, 7)
    first.doc.getMap('m').set('a', 1)
    await first.persistence.flushed()
    // Once stored, the record is not written again.
    first.doc.getMap('m').set('b', 2)
    await first.persistence.flushed()
    expect(store.appended.map((m) => writerValue(m, OWN_CLIENTS_META))).toEqual(['7', undefined])
    await first.persistence.destroy()

    const second = await open(store, 9)
    expect(second.persistence.ownClients?.has(7)).toBe(true)
    expect(second.persistence.ownClients?.earlier(9)).toEqual([7])
    // Another client's update (received, not written here) records nothing new. The session's own key holds its
    // own id only (STORE-9.7): 7 stays in the first session's key.
    const other = new Y.Doc()
    other.clientID = 11
    other.getMap('m').set('c', 3)
    Y.applyUpdate(second.doc, Y.encodeStateAsUpdate(other), 'peer')
    second.doc.getMap('m').set('d', 4)
    await second.persistence.flushed()
    expect(store.appended.slice(2).map((m) => writerValue(m, OWN_CLIENTS_META))).toEqual([undefined, '9'])
    expect(second.persistence.ownClients?.has(11)).toBe(false)
    await second.persistence.destroy()
  })

  it('RULES-5.11: an id the authority holds entirely leaves the record; one the loaded document holds nothing of is dropped', async () => {
    const store = new MemoryDocStore()
    const first = await open(store, 7)
    first.doc.getMap('m').set('a', 1)
    await first.persistence.flushed()
    await first.persistence.destroy()
    await store.setMeta(ID, OWN_CLIENTS_META, '7 5 junk')
    const before = Object.keys((await store.load(ID))?.meta ?? {})

    const second = await open(store, 9)
    expect(second.persistence.ownClients?.earlier(9)).toEqual([7])
    // The authority lacks 7's item: it stays.
    second.persistence.ownClients?.heldBy(new Map(), second.doc)
    expect(second.persistence.ownClients?.has(7)).toBe(true)
    second.persistence.ownClients?.heldBy(new Map([[7, 1]]), second.doc)
    expect(second.persistence.ownClients?.has(7)).toBe(false)
    second.doc.getMap('m').set('b', 2)
    await second.persistence.flushed()
    // The session's own key (STORE-9.7) holds what it still records; the other keys are only read.
    const meta = (await store.load(ID))?.meta ?? {}
    const added = Object.keys(meta).filter((k) => !before.includes(k))
    expect(added).toHaveLength(1)
    expect(added[0]?.startsWith(`${OWN_CLIENTS_META}:`)).toBe(true)
    expect(meta[added[0] ?? '']).toBe('9')
    await second.persistence.destroy()
  })
})
