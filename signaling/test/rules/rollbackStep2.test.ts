import { afterEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { ruledClient, settled, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const shapesOf = (doc: Y.Doc) => doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>

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
    expect(shapesOf(bob.doc)).toEqual(want)
    await settled(bob.session)
    expect(shapesOf(await r.stored(room))).toEqual(want)
    await until(alice.doc, () => shapesOf(alice.doc).c !== undefined && shapesOf(alice.doc).old === undefined)
    expect(shapesOf(alice.doc)).toEqual(want)
    const label = (doc: Y.Doc) =>
      ((doc.getMap('shapes').get('b') as Y.Map<unknown>).get('label') as Y.Text).toDelta()
    expect(label(alice.doc)).toEqual([{ insert: 'hi' }, { insert: '!', attributes: { bold: true } }])
    expect(again.client.closeInfo).toBeNull()
  })
})
