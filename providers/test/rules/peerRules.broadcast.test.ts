/**
 * RULES-6 over BroadcastChannelTransport (Node's BroadcastChannel, as between tabs): peers that check the rules keep a
 * peer that writes around them out, and tell an honest writer to roll back. The documents are `openDoc` documents.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SyncSession, type DocHandleEvents } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, type WeftDoc } from '../../src/index.js'
import { BroadcastChannelTransport } from '../../src/broadcast/index.js'
import { lockRules, meshed, rawMove, seeded, shapesOf, xBecomes, xOf } from './peerRulesFixture.js'

type Refused = Parameters<DocHandleEvents['refused']>[0]
type Rejected = Parameters<DocHandleEvents['rejected']>[0]

const DOC = 'board-rules'
let run = 0
const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

/** A BroadcastChannel transport of this test's channel `channel` (a prefix of its own: channels do not mix). */
const tab = (channel: string) =>
  new BroadcastChannelTransport({ room: DOC, prefix: `weft-${run}-${channel}:` })

const open = async (transports: BroadcastChannelTransport[], ruled: boolean, withStore = false) => {
  const doc = await openDoc({
    docId: DOC,
    doc: seeded(),
    transports,
    ...(ruled ? { rules: { rules: lockRules } } : {}),
    ...(withStore ? { store: new MemoryDocStore() } : {}),
  })
  const refused: Refused[] = []
  const rejected: Rejected[] = []
  doc.on('refused', (e) => refused.push(e))
  doc.on('rejected', (e) => rejected.push(e))
  cleanup.push(() => doc.destroy())
  return Object.assign(doc, { refused, rejected }) as WeftDoc & { refused: Refused[]; rejected: Rejected[] }
}

describe('peer rules over BroadcastChannelTransport (RULES-6)', () => {
  it('RULES-6.2: a hostile tab’s move of a locked shape is refused by the checking tab, never reaches the tab behind it; the honest tabs converge', async () => {
    run++
    // hostile —(channel a)— honest, checking —(channel b)— third tab, checking too: the third tab hears the hostile
    // one only through the first, and never refuses anything (nothing of the hostile change reaches it).
    const toHostile = tab('a')
    const toThird = tab('b')
    const honest = await open([toHostile, toThird], true)
    const third = await open([tab('b')], true)
    const hostileTransport = tab('a')
    const hostile = new SyncSession({ doc: seeded() })
    hostile.addTransport(hostileTransport)
    cleanup.push(() => {
      hostile.destroy()
      hostileTransport.destroy()
    })
    hostileTransport.connect()
    await Promise.all([meshed(honest.session, 2), meshed(third.session, 1), meshed(hostile, 1)])

    const refused = new Promise<Refused>((resolve) => honest.on('refused', resolve))
    rawMove(hostile.doc, 'a', 999) // alice's lock, written around the schema and the rules
    const event = await refused
    expect(event).toMatchObject({
      transport: toHostile,
      ruleId: 'shapes.update',
      path: ['shapes', 'a'],
      told: false,
    })

    // The third tab writes after the refusal; once its move is back from the hostile tab (through the checking one),
    // and the checking tab's own move reached it, everything the checking tab passed on has arrived.
    rawMove(third.doc, 'b', 20)
    await xBecomes(hostile.doc, 'b', 20)
    rawMove(honest.doc, 'b', 30)
    await Promise.all([xBecomes(third.doc, 'b', 30), xBecomes(hostile.doc, 'b', 30)])
    expect(xOf(honest.doc, 'a')).toBe(10)
    expect(xOf(third.doc, 'a')).toBe(10)
    expect(shapesOf(third.doc)).toEqual(shapesOf(honest.doc))
    expect(honest.refused.map((e) => e.ruleId)).toEqual(['shapes.update'])
    expect(third.refused).toEqual([])
  })

  it('RULES-6.3: a writer that can roll back is told, rolls back (`rejected` on its WeftDoc) and converges with the checking tab', async () => {
    run++
    // Both with a store: durable acks number the updates (a writer rolls back what it numbered), and announce
    // `rollback`.
    const honest = await open([tab('a')], true, true)
    const writer = await open([tab('a')], false, true)
    await Promise.all([meshed(honest.session, 1), meshed(writer.session, 1)])

    const rejected = new Promise<Rejected>((resolve) => writer.on('rejected', resolve))
    rawMove(writer.doc, 'a', 50) // not its lock
    const event = await rejected
    expect(event).toMatchObject({ ruleId: 'shapes.update', path: ['shapes', 'a'] })
    expect(honest.refused.map((e) => [e.ruleId, e.told])).toEqual([['shapes.update', true]])
    expect(xOf(writer.doc, 'a')).toBe(10)

    // The writer's next (valid) move is taken: the fence is lifted by its `rolled-back`.
    rawMove(writer.doc, 'b', 40)
    await xBecomes(honest.doc, 'b', 40)
    expect(shapesOf(honest.doc)).toEqual(shapesOf(writer.doc))
    expect(writer.rejected).toHaveLength(1)
  })
})
