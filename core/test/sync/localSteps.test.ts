import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { LocalSteps, MAX_LOCAL_STEPS, stepAt } from '../../src/sync/localSteps.js'

/** A document whose transactions are recorded as steps. */
const recorded = () => {
  const doc = new Y.Doc()
  const steps = new LocalSteps()
  doc.on('afterTransaction', (tr: Y.Transaction) => steps.record(tr, doc.clientID))
  return { doc, steps, map: doc.getMap<number>('m') }
}

describe('LocalSteps (RULES-5.16)', () => {
  it('RULES-5.16: one step per transaction that wrote or deleted, with its first clock; stepAt finds the step of a clock', () => {
    const { doc, steps, map } = recorded()
    map.set('x', 1)
    doc.transact(() => {
      map.set('y', 2)
      map.set('z', 3)
    })
    map.delete('x') // a deletion only: a step at the clock the next one starts at
    map.set('x', 4)
    const list = steps.of(doc.clientID)
    expect(list.map((s) => s.clock)).toEqual([0, 1, 3, 3])
    expect(list[2]?.ds.clients.get(doc.clientID)).toEqual([{ clock: 0, len: 1 }])
    expect([0, 1, 2, 3].map((clock) => stepAt(list, clock))).toEqual([0, 1, 1, 3])
    expect(steps.of(doc.clientID + 1)).toEqual([])
  })

  it('RULES-5.16: prune drops the steps whose items are acknowledged; a new client id starts afresh', () => {
    const { doc, steps, map } = recorded()
    for (let i = 0; i < 4; i++) map.set('x', i)
    steps.prune(doc.clientID, 2)
    expect(steps.of(doc.clientID).map((s) => s.clock)).toEqual([2, 3])
    doc.clientID = doc.clientID + 1
    map.set('x', 9)
    expect(steps.of(doc.clientID).map((s) => s.clock)).toEqual([0])
  })

  it('RULES-5.16: at most MAX_LOCAL_STEPS are kept when nothing is acknowledged (the oldest go)', () => {
    const { doc, steps, map } = recorded()
    for (let i = 0; i < MAX_LOCAL_STEPS + 10; i++) map.set('x', i)
    const list = steps.of(doc.clientID)
    expect(list).toHaveLength(MAX_LOCAL_STEPS)
    expect(list[0]?.clock).toBe(10)
  })
})
