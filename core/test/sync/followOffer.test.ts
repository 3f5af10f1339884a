import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { startEpoch } from '../../src/storage/epochs.js'
import { buildEpochDoc, planFollow } from '../../src/sync/engine.js'

/** An epoch started from a document holding "hello" (the old epoch's state). */
const setup = () => {
  const origin = new Y.Doc()
  origin.getText('t').insert(0, 'hello')
  const { record, doc } = startEpoch(origin)
  doc.destroy()
  return { origin, record }
}

describe('following an offered epoch (planFollow, written once for EpochManager and the relay switch)', () => {
  it('COMPACT-5.1: a document lacking part of the base cannot follow without the catch-up, and can with it', () => {
    const { origin, record } = setup()
    const partial = new Y.Doc()
    partial.getText('other').insert(0, 'x')
    expect(planFollow(partial, record, new Uint8Array(0))).toEqual({ ok: false, reason: 'missing-base' })
    const catchUp = Y.encodeStateAsUpdate(origin, Y.encodeStateVector(partial))
    const plan = planFollow(partial, record, catchUp)
    expect(plan.ok && plan.rebased).toBeInstanceOf(Uint8Array)
    if (!plan.ok) return
    const next = buildEpochDoc(new Y.Doc(), record, plan.rebased)
    expect(next.getText('t').toString()).toBe('hello')
    expect(next.getText('other').toString()).toBe('x')
  })

  it('COMPACT-5.2: a document holding nothing of the old epoch has nothing to re-apply', () => {
    const { record } = setup()
    const plan = planFollow(new Y.Doc(), record, new Uint8Array(0))
    expect(plan).toEqual({ ok: true, rebased: null })
    expect(buildEpochDoc(new Y.Doc(), record, null).getText('t').toString()).toBe('hello')
  })
})
