/** RULES-6.2: the document handle re-emits the session's `refused` event, so an app sees a peer refused. */
import type * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession, openDocument, type DocHandleEvents, type SyncSessionEvents } from '../../src/index.js'
import { MemoryNetwork } from '../../src/testing/index.js'
import { lockRules, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

/** Moves shape `id` with plain Yjs, around the schema and any check (what a malicious peer does). */
const rawMove = (doc: Y.Doc, id: string, x: number) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)

describe('DocHandle with rules (RULES-6.2)', () => {
  it('RULES-6.2: a peer’s refused update reaches the app as the handle’s `refused` event, the session’s payload as it is', async () => {
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const handle = await openDocument({ docId: 'board', doc: seeded(seed), rules: { rules: lockRules } })
    const hostile = new SyncSession({ doc: seeded(seed) })
    const net = new MemoryNetwork()
    const [th, tm] = [net.transport('honest'), net.transport('mallory')]
    net.link(th, tm)
    handle.addTransport(th)
    hostile.addTransport(tm)
    th.connect()
    tm.connect()
    net.flush()
    const fromSession: Parameters<SyncSessionEvents['refused']>[0][] = []
    const fromHandle: Parameters<DocHandleEvents['refused']>[0][] = []
    handle.session.on('refused', (e) => fromSession.push(e))
    handle.on('refused', (e) => fromHandle.push(e))

    rawMove(hostile.doc, 'a', 999) // alice's lock, by an anonymous peer
    net.flush()
    expect(fromHandle).toHaveLength(1)
    expect(fromHandle[0]).toBe(fromSession[0])
    expect(fromHandle[0]).toMatchObject({
      transport: th,
      peer: 'mallory',
      ruleId: 'shapes.update',
      path: ['shapes', 'a'],
      told: false,
    })
    expect(shapesOf(handle.doc)['a']?.x).toBe(10)
    await handle.destroy()
    hostile.destroy()
  })
})
