/** RULES-4.8: what a writer's refused updates cost a ruled room (views built from the room's whole state). */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { RelayRules, ruleRefusalOf } from '../../src/relay/rules/RelayRules.js'
import { defineRules } from '@weft/core/rules'
import { board } from './relayRules.js'

/** Shapes' `x` in 0..100 (no owner: every connection writes anonymously here). */
const xRules = defineRules(board, { collections: { shapes: { fields: { x: { min: 0, max: 100 } } } } })

/** A ruled room's stand-in: its log counts the updates it took, its state is theirs. */
const ruledRoom = (docId: string) => {
  const doc = new Y.Doc()
  const log = {
    changes: 0,
    state: () => Y.encodeStateAsUpdate(doc),
    stateVector: () => Y.encodeStateVector(doc),
  }
  const accept = (update: Uint8Array) => (): Promise<void> => {
    Y.applyUpdate(doc, update)
    log.changes++
    return Promise.resolve()
  }
  return { room: { docId, log } as unknown as RelayRoom, accept, doc }
}

/** A fresh connection each time: a stock client closed on refusal and reconnecting is never fenced (RULES-5.1). */
const peer = (): RelayPeer => ({}) as RelayPeer

/** A shape written by a fresh client (valid: x within 0..100). */
const shape = (doc: Y.Doc, id: string, x: number): Uint8Array => {
  const sv = Y.encodeStateVector(doc)
  const record = new Y.Map<unknown>()
  doc.getMap('shapes').set(id, record)
  record.set('name', id)
  record.set('x', x)
  record.set('author', '')
  record.set('label', new Y.Text())
  return Y.encodeStateAsUpdate(doc, sv)
}

/** An update of a client whose structs start past clock 0: its earlier clocks were refused or never sent. */
const skippedClocks = (): Uint8Array => {
  const doc = new Y.Doc()
  shape(doc, 'first', 1)
  return shape(doc, 'second', 2)
}

/** An update deleting clock 0 of a client the room never saw (a delete set, no structs). */
const danglingDeletion = (): Uint8Array => {
  const x = new Y.Doc()
  x.getText('junk').insert(0, 'z')
  const y = new Y.Doc()
  Y.applyUpdate(y, Y.encodeStateAsUpdate(x))
  const sv = Y.encodeStateVector(y)
  y.getText('junk').delete(0, 1)
  return Y.encodeStateAsUpdate(y, sv)
}

const refusal = async (p: Promise<void>) => {
  try {
    await p
  } catch (err) {
    return ruleRefusalOf(err)?.verdict.ruleId
  }
  return 'accepted'
}

describe('a writer cannot make the relay rebuild a ruled room view per update (RULES-4.8)', () => {
  it('RULES-4.4 RULES-4.8: 100 updates missing clocks are refused as depends-on-rejected without a rebuild', async () => {
    const rules = new RelayRules({ 'board-*': xRules }, pino({ level: 'silent' }))
    const { room, accept, doc } = ruledRoom('board-1')
    const honest = new Y.Doc()
    const first = shape(honest, 'a', 1)
    expect(await refusal(rules.screen(room, first, peer(), accept(first)))).toBe('accepted')
    expect(rules.viewBuilds).toBe(1)
    for (let i = 0; i < 50; i++) {
      const skipped = skippedClocks()
      expect(await refusal(rules.screen(room, skipped, peer(), accept(skipped)))).toBe('depends-on-rejected')
      const dangling = danglingDeletion()
      expect(await refusal(rules.screen(room, dangling, peer(), accept(dangling)))).toBe(
        'depends-on-rejected',
      )
    }
    expect(rules.viewBuilds).toBe(1)
    expect(doc.getMap('shapes').size).toBe(1) // nothing refused was taken
    // The view is intact: an honest change is checked and accepted without another build.
    const next = shape(honest, 'b', 2)
    expect(await refusal(rules.screen(room, next, peer(), accept(next)))).toBe('accepted')
    expect(rules.viewBuilds).toBe(1)
  })
})
