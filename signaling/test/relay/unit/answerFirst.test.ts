import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import type { CompactOptions, CompactResult, DocId } from '@weft/core'
import { GatedStore } from '../../helpers/GatedStore.js'
import type { MemoryRelayClient } from '../../../src/relay/MemoryRelaySocket.js'
import { decodedAll, nextOf, sendStep1, startMemoryRelay, type MemoryRelay } from './memoryRelay.js'

let relay: MemoryRelay | null = null
afterEach(async () => {
  await relay?.close()
  relay = null
})

/** A store that tells `watch` when a compaction's write is called (before it runs). */
class WatchedStore extends GatedStore {
  watch: (() => void) | null = null

  override compact(
    id: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    this.watch?.()
    return super.compact(id, snapshot, throughClock, options)
  }
}

/**
 * A stored document of a few hundred bytes with deletions (so RELAY-3.7 applies to it once it grows by 10%), and a
 * relay over it. Returns the store and a replica holding exactly the stored state.
 */
const seeded = async () => {
  const store = new WatchedStore(new MemoryDocStore())
  const seed = new Y.Doc()
  seed.getText('t').insert(0, 'a document stored on the relay, edited a little. '.repeat(4))
  seed.getText('t').delete(0, 11)
  await store.inner.append(docId('r'), Y.encodeStateAsUpdate(seed))
  relay = startMemoryRelay({ store })
  return { store, seed }
}

/** A replica of `seed` (its own client id), connected and answered. */
const replicaOf = async (r: MemoryRelay, seed: Y.Doc) => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(seed))
  const client = r.connect('r')
  sendStep1(client, doc)
  await nextOf(client, 'sync-step2')
  return { doc, client }
}

/** Everything the relay sent `client` as sync step 2 and updates, applied to `doc`. */
const applyAll = (client: MemoryRelayClient, doc: Y.Doc): void => {
  for (const m of decodedAll(client))
    if (m.type === 'sync-step2' || m.type === 'sync-update') Y.applyUpdate(doc, m.update)
}

/** One update that grows the text of `doc` by a third and deletes from it: the room grows past 10%, with deletions. */
const edit = (doc: Y.Doc): Uint8Array => {
  const before = Y.encodeStateVector(doc)
  doc.transact(() => {
    const t = doc.getText('t')
    t.insert(t.length, ' An edit made elsewhere, a third of the document long, with a deletion.')
    t.delete(0, 3)
  })
  return Y.encodeStateAsUpdate(doc, before)
}

describe('RELAY-3.7: the answer to a replica that lacks only a small tail', () => {
  it('RELAY-3.7: a joiner holding the base and lacking only the small tail is answered without a rebuild; a fresh joiner still waits for one', async () => {
    const { store, seed } = await seeded()
    const r = relay as MemoryRelay
    const writer = await replicaOf(r, seed)
    const update = edit(writer.doc)
    writer.client.send(encodeSyncUpdate(update, 1))
    await nextOf(writer.client, 'ack')
    expect(store.compactCalls).toBe(0)

    // A replica that was away: it holds the stored state, and lacks the writer's one update.
    const away = new Y.Doc()
    Y.applyUpdate(away, Y.encodeStateAsUpdate(seed))
    const client = r.connect('r')
    sendStep1(client, away)
    await nextOf(client, 'sync-step2')
    applyAll(client, away)
    expect(away.getText('t').toString()).toBe(writer.doc.getText('t').toString())
    // No compaction for it: neither a rebuild before the answer nor a store write after it.
    await r.hub.room('r')?.compaction
    expect(store.compactCalls).toBe(0)

    // A joiner with nothing gets the rebuilt state, as before (RELAY-3.7).
    const compacted = store.nextCompaction()
    const fresh = new Y.Doc()
    const joiner = r.connect('r')
    sendStep1(joiner, fresh)
    await nextOf(joiner, 'sync-step2')
    applyAll(joiner, fresh)
    await compacted
    expect(store.compactCalls).toBe(1)
    expect(fresh.getText('t').toString()).toBe(writer.doc.getText('t').toString())
  })
})

describe('RELAY-3.12: a compaction is written after the answer it came with', () => {
  it('RELAY-3.12: the rebuild before a fresh joiner is answered (RELAY-3.7) is stored only after the answer went out', async () => {
    const { store, seed } = await seeded()
    const r = relay as MemoryRelay
    const writer = await replicaOf(r, seed)
    writer.client.send(encodeSyncUpdate(edit(writer.doc), 1))
    await nextOf(writer.client, 'ack')
    const joiner = r.connect('r')
    const answered: boolean[] = []
    store.watch = () => answered.push(decodedAll(joiner).some((m) => m.type === 'sync-step2'))
    const compacted = store.nextCompaction()
    sendStep1(joiner, new Y.Doc())
    await compacted
    expect(answered).toEqual([true])
  })

  it('RELAY-3.12: the compaction of a document rebuilt at its load (RELAY-3.6) is stored after the first joiner is answered', async () => {
    const store = new WatchedStore(new MemoryDocStore())
    // 80 KB of text, then most of it deleted: stored as two updates, the merged state keeps the deleted content.
    const source = new Y.Doc()
    const updates: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => updates.push(u))
    source.getText('t').insert(0, 'deleted later, '.repeat(5500))
    source.getText('t').delete(0, 80_000)
    for (const u of updates) await store.inner.append(docId('big'), u)
    relay = startMemoryRelay({ store })
    const joiner = relay.connect('big')
    const answered: boolean[] = []
    store.watch = () => answered.push(decodedAll(joiner).some((m) => m.type === 'sync-step2'))
    const compacted = store.nextCompaction()
    sendStep1(joiner, new Y.Doc())
    await compacted
    expect(answered).toEqual([true])
    const doc = new Y.Doc()
    applyAll(joiner, doc)
    expect(doc.getText('t').toString()).toBe(source.getText('t').toString())
  })
})
