/**
 * A crash between a refusal and its rollback (issue #16): the local store holds a refused change of an earlier
 * session's client id, never rolled back. A later session must roll it back like one of its own (RULES-5.11), so
 * that its step 2 stops being refused, and its own edits, once reported saved, are at the relay (RULES-5.12).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { PENDING_META, docId, openDocument, openTyped, type DocHandle } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { board, startRuledRelay } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const shapesOf = (doc: Y.Doc) => doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>
const ids = (doc: Y.Doc) => Object.keys(shapesOf(doc)).sort()

type Relay = ReturnType<typeof startRuledRelay>

/** Opens `room` from `store` and connects it to the relay as `bob`; `before` edits it before the handshake. */
const session = async (
  r: Relay,
  room: string,
  store: MemoryDocStore,
  before: (typed: ReturnType<typeof openTyped<typeof board>>) => void = () => {},
) => {
  const handle = await openDocument({ docId: room, store })
  const typed = openTyped(handle.doc, board)
  before(typed)
  const rejected: Array<{ ruleId: string }> = []
  handle.on('rejected', (e) => rejected.push(e))
  const transport = new MemoryRelayTransport(r.connect(room, 'bob'))
  handle.addTransport(transport, { relay: true })
  const close = async () => {
    transport.destroy()
    await handle.destroy()
  }
  cleanups.push(close)
  return { handle, typed, transport, rejected, close }
}

/** Resolves once nothing is pending, recording what the relay holds at each moment the count reaches 0. */
const saved = (r: Relay, room: string, handle: DocHandle, seen: Array<Promise<string[]>>): Promise<void> =>
  new Promise((resolve) => {
    const check = (pending: number) => {
      if (pending !== 0) return
      seen.push(r.stored(room).then(ids))
      handle.off('pending-changed', onChange)
      resolve()
    }
    const onChange = ({ pendingChanges }: { pendingChanges: number }) => check(pendingChanges)
    handle.on('pending-changed', onChange)
    check(handle.pendingChanges)
  })

/**
 * A store as a session left it when killed after its refused change was stored and acknowledged (RULES-5.3) but before
 * its rollback was: shape `a` accepted by the relay, shape `bad` (x = 500, refused) stored, its local count confirmed.
 */
const crashedStore = async (r: Relay, room: string): Promise<{ store: MemoryDocStore; earlier: number }> => {
  const store = new MemoryDocStore()
  const first = await session(r, room, store, (typed) =>
    typed.root.shapes.insert({ name: 'a', x: 10, author: 'bob' }, { id: 'a' }),
  )
  await saved(r, room, first.handle, [])
  const earlier = first.handle.doc.clientID
  // The refused change is stored; the relay never holds it (it refused it, or never got it).
  first.handle.session.removeTransport(first.transport)
  first.typed.root.shapes.insert({ name: 'bad', x: 500, author: 'bob' }, { id: 'bad' })
  await first.handle.flushed()
  await first.close()
  const meta = (await store.load(docId(room)))?.meta ?? {}
  // Each writer's count (STORE-9.7) is confirmed under that writer's own key.
  for (const [key, value] of Object.entries(meta))
    if (key.startsWith(PENDING_META.local))
      await store.setMeta(docId(room), PENDING_META.confirmed + key.slice(PENDING_META.local.length), value)
  expect(ids(await r.stored(room))).toEqual(['a'])
  return { store, earlier }
}

describe('a crash between a refusal and its rollback (RULES-5.11, RULES-5.12)', () => {
  it('RULES-5.11 RULES-5.12: the next session rolls back the earlier id’s refused change; its own edits, reported saved, are at the relay; the next open is not refused', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const room = 'board-crash'
    const { store, earlier } = await crashedStore(r, room)

    // The next session edits before its handshake (its step 2 carries the edits and the stored refused change).
    const second = await session(r, room, store, (typed) => {
      typed.root.shapes.insert({ name: 'n1', x: 1, author: 'bob' }, { id: 'n1' })
      typed.root.shapes.insert({ name: 'n2', x: 2, author: 'bob' }, { id: 'n2' })
    })
    expect(second.handle.doc.clientID).not.toBe(earlier)
    const seen: Array<Promise<string[]>> = []
    await saved(r, room, second.handle, seen)
    // RULES-5.12: when the count said saved, the relay held both edits.
    for (const s of seen) expect(await s).toEqual(['a', 'n1', 'n2'])
    expect(second.rejected.map((e) => e.ruleId)).toEqual(['shapes.x.max'])
    // RULES-5.11: the refused change of the earlier id is gone locally too: writer and relay agree.
    expect(ids(second.handle.doc)).toEqual(['a', 'n1', 'n2'])
    expect(shapesOf(second.handle.doc)).toEqual(shapesOf(await r.stored(room)))
    await second.handle.flushed()
    await second.close()

    // A later open is no longer refused: its edits are saved at once, nothing is lost.
    const third = await session(r, room, store, (typed) => {
      typed.root.shapes.insert({ name: 'n3', x: 3, author: 'bob' }, { id: 'n3' })
    })
    const seen3: Array<Promise<string[]>> = []
    await saved(r, room, third.handle, seen3)
    for (const s of seen3) expect(await s).toEqual(['a', 'n1', 'n2', 'n3'])
    expect(third.rejected).toEqual([])
    expect(shapesOf(third.handle.doc)).toEqual(shapesOf(await r.stored(room)))
  })
})
