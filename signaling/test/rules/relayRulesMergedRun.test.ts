import { afterEach, describe, expect, it } from 'vitest'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { ruledClient, settled, shapesEverywhere, shapesOf, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const shape = (fields: Record<string, unknown>) => ({ label: '', ...fields })

describe('a field set several times offline (RULES-2.8)', () => {
  it('RULES-2.8: offline, x = 10, 20, 30 (valid): Yjs merges the overwritten values into one item; the relay checks each and takes the step 2', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const room = 'board-merged-run'
    const alice = await ruledClient(r, room, 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'a', x: 20, author: 'alice' }, { id: 'a' })
    const bob = await ruledClient(r, room, 'bob', cleanups)
    bob.typed.root.shapes.insert({ name: 'b', x: 1, author: 'bob' }, { id: 'b' })
    await until(alice.doc, () => shapesOf(alice.doc).b?.x === 1)
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 20)
    await settled(bob.session)
    // Offline: the overwritten values (10, 20) are deleted items of one client in a row: Yjs merges them into one.
    bob.session.removeTransport(bob.transport)
    bob.transport.destroy()
    bob.typed.root.shapes.update('b', { x: 10 })
    bob.typed.root.shapes.update('b', { x: 20 })
    bob.typed.root.shapes.update('b', { x: 30 })
    const rejected: string[] = []
    bob.session.on('rejected', (e) => rejected.push(`${e.ruleId}: ${e.reason}`))
    const again = new MemoryRelayTransport(r.connect(room, 'bob'))
    cleanups.push(() => again.destroy())
    bob.session.addTransport(again)
    await until(alice.doc, () => shapesOf(alice.doc).b?.x === 30)
    const want = {
      a: shape({ name: 'a', x: 20, author: 'alice' }),
      b: shape({ name: 'b', x: 30, author: 'bob' }),
    }
    expect(await shapesEverywhere(r, room, bob, alice.doc, (s) => s.b?.x === 30)).toEqual({
      writer: want,
      stored: want,
      other: want,
    })
    expect(rejected).toEqual([])
  })
})
