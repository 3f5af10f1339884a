import { afterEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { ruledClient, settled, shapesEverywhere, shapesOf, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('a refused sync step 2 keeps the valid offline changes (RULES-5.10)', () => {
  it('RULES-5.10: offline work with one refused record: that record goes back, the other offline changes reach the relay', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const room = 'board-offline'
    const alice = await ruledClient(r, room, 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const bob = await ruledClient(r, room, 'bob', cleanups)
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 10)
    bob.typed.root.shapes.insert({ name: 'b', x: 1, author: 'bob', label: 'hi' }, { id: 'b' })
    bob.typed.root.shapes.insert({ name: 'old', x: 2, author: 'bob' }, { id: 'old' })
    await settled(bob.session)

    // Offline: valid changes around a refused one (alice's shape), all in bob's step 2 at reconnection.
    bob.session.removeTransport(bob.transport)
    bob.transport.destroy()
    bob.typed.root.shapes.update('b', { x: 7 })
    bob.typed.root.shapes.update('a', { x: 50 }) // refused: alice owns it
    bob.typed.root.shapes.insert({ name: 'c', x: 3, author: 'bob' }, { id: 'c' })
    bob.typed.root.shapes.delete('old')
    ;((bob.doc.getMap('shapes').get('b') as Y.Map<unknown>).get('label') as Y.Text).insert(2, '!', {
      bold: true,
    })
    const rejected = new Promise<{ ruleId: string; path: readonly string[] }>((resolve) =>
      bob.session.on('rejected', resolve),
    )
    const again = new MemoryRelayTransport(r.connect(room, 'bob'))
    cleanups.push(() => again.destroy())
    bob.session.addTransport(again)
    expect(await rejected).toMatchObject({ ruleId: 'shapes.owner', path: ['shapes', 'a'] })

    const want = {
      a: { name: 'a', x: 10, author: 'alice', label: '' },
      b: { name: 'b', x: 7, author: 'bob', label: 'hi!' },
      c: { name: 'c', x: 3, author: 'bob', label: '' },
    }
    expect(
      await shapesEverywhere(r, room, bob, alice.doc, (s) => s.c !== undefined && s.old === undefined),
    ).toEqual({ writer: want, stored: want, other: want })
    const label = (doc: Y.Doc) =>
      ((doc.getMap('shapes').get('b') as Y.Map<unknown>).get('label') as Y.Text).toDelta()
    expect(label(alice.doc)).toEqual([{ insert: 'hi' }, { insert: '!', attributes: { bold: true } }])
    expect(again.client.closeInfo).toBeNull()
  })

  it('RULES-5.13 RULES-5.12: offline work breaking rules on two records: each is rolled back alone, the valid offline edit reaches the relay', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const room = 'board-two-refusals'
    const alice = await ruledClient(r, room, 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'b', x: 20, author: 'alice' }, { id: 'b' })
    alice.typed.root.shapes.insert({ name: 'c', x: 30, author: 'alice' }, { id: 'c' })
    const bob = await ruledClient(r, room, 'bob', cleanups)
    bob.typed.root.shapes.insert({ name: 'a', x: 10, author: 'bob' }, { id: 'a' })
    await until(bob.doc, () => shapesOf(bob.doc).c?.x === 30)
    await settled(bob.session)

    // Offline: bob moves his own shape (valid) and alice's two locked shapes (refused, one rule at a time).
    bob.session.removeTransport(bob.transport)
    bob.transport.destroy()
    bob.typed.root.shapes.update('a', { x: 11 })
    bob.typed.root.shapes.update('b', { x: 21 })
    bob.typed.root.shapes.update('c', { x: 31 })
    const rejections: Array<{ ruleId: string; path: readonly string[] }> = []
    const second = new Promise<void>((resolve) =>
      bob.session.on('rejected', (e) => rejections.push(e) === 2 && resolve()),
    )
    const again = new MemoryRelayTransport(r.connect(room, 'bob'))
    cleanups.push(() => again.destroy())
    bob.session.addTransport(again)
    // The step 2 is refused for one locked shape, the restoring update (re-sending the rest) for the other.
    await second
    expect(rejections.map((e) => e.ruleId)).toEqual(['shapes.owner', 'shapes.owner'])
    expect(rejections.map((e) => e.path.join('/')).sort()).toEqual(['shapes/b', 'shapes/c'])

    const want = {
      a: { name: 'a', x: 11, author: 'bob', label: '' },
      b: { name: 'b', x: 20, author: 'alice', label: '' },
      c: { name: 'c', x: 30, author: 'alice', label: '' },
    }
    // RULES-5.12: saved means at the relay: once everything is acknowledged, the valid edit is stored.
    expect(await shapesEverywhere(r, room, bob, alice.doc, (s) => s.a?.x === 11)).toEqual({
      writer: want,
      stored: want,
      other: want,
    })
    expect(rejections).toHaveLength(2)
    expect(again.client.closeInfo).toBeNull()
  })
})
