/**
 * SYNC-3.8, RULES-5.12 (issue #16): an edit made while the relay's handshake is under way (the path is open, the relay's step 1
 * has not arrived) is saved at the relay when the pending count says so. It used to go out as a live update before
 * the writer's step 2 (unnumbered: the relay's hello had not arrived), which a ruled relay refuses as depending on
 * clocks it lacks; the step 2 behind it was then fenced silently, and acknowledged.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { openDocument, openTyped } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { board, startRuledRelay } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('an edit during the handshake with a ruled relay (RULES-5.12)', () => {
  it('SYNC-3.8 RULES-5.12: an edit made right after the relay path opens is at the relay once nothing is pending', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const room = 'board-handshake'
    const handle = await openDocument({ docId: room, store: new MemoryDocStore() })
    cleanups.push(() => handle.destroy())
    // Written before the relay is added: the relay gets it with the step 2.
    const typed = openTyped(handle.doc, board)
    const transport = new MemoryRelayTransport(r.connect(room, 'bob'))
    cleanups.push(() => transport.destroy())
    const rejected: string[] = []
    handle.on('rejected', (e) => rejected.push(e.ruleId))
    handle.addTransport(transport, { relay: true })
    typed.root.shapes.insert({ name: 'a', x: 10, author: 'bob' }, { id: 'a' })
    expect(handle.pendingChanges).toBeGreaterThan(0)
    await new Promise<void>((resolve) => {
      const check = () => handle.pendingChanges === 0 && resolve()
      handle.on('pending-changed', check)
    })
    const stored = (await r.stored(room)).getMap('shapes').toJSON() as Record<string, unknown>
    expect(Object.keys(stored)).toEqual(['a'])
    expect(rejected).toEqual([])
  })
})
