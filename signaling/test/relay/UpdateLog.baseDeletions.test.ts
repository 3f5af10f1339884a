import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import type * as Yjs from 'yjs'
import { decodeMessage, encodeSyncStep2, encodeSyncUpdate } from '@weft/core/protocol'
import { UpdateLog, type AnswerEncoder } from '../../src/relay/UpdateLog.js'

// Counts the log's diffs by the size of what they decode (the base is the one large input here).
const diffs = vi.hoisted(() => ({ sizes: [] as number[] }))
vi.mock('yjs', async (importOriginal) => {
  const yjs = await importOriginal<typeof Yjs>()
  return {
    ...yjs,
    diffUpdate: (update: Uint8Array, sv: Uint8Array) => {
      diffs.sizes.push(update.byteLength)
      return yjs.diffUpdate(update, sv)
    },
  }
})

const encode: AnswerEncoder = (diff, kind) =>
  kind === 'step2' ? encodeSyncStep2(diff) : encodeSyncUpdate(diff)

/** The step 2 and the updates of an answer, applied to `doc`; returns the step 2's update. */
const applied = (doc: Y.Doc, messages: readonly Uint8Array[]): Uint8Array => {
  let step2: Uint8Array | null = null
  for (const m of messages) {
    const decoded = decodeMessage(m)
    if (decoded.type === 'sync-step2' || decoded.type === 'sync-update') Y.applyUpdate(doc, decoded.update)
    if (decoded.type === 'sync-step2') step2 = decoded.update
  }
  if (!step2) throw new Error('no step 2 in the answer')
  return step2
}

describe('UpdateLog: answers to peers that hold the base (RELAY-2.3)', () => {
  it('RELAY-2.3: a peer holding the merged base gets the base as its delete set, computed once per base however many appends follow', () => {
    const writer = new Y.Doc()
    writer.clientID = 1
    const text = writer.getText('t')
    text.insert(0, 'a base of some size, with deletions in it. '.repeat(200))
    text.delete(10, 300)
    const base = Y.encodeStateAsUpdate(writer)
    const log = new UpdateLog([base], Y.encodeStateVectorFromUpdate(base))
    log.stateVector()
    diffs.sizes.length = 0
    for (let round = 0; round < 3; round++) {
      const replica = new Y.Doc()
      Y.applyUpdate(replica, base)
      const before = Y.encodeStateVector(writer)
      text.insert(0, `edit ${round} `)
      log.append(Y.encodeStateAsUpdate(writer, before))
      const sv = Y.encodeStateVector(replica)
      expect(log.lacksOnlyTail(sv)).toBe(true)
      const step2 = applied(replica, log.answer(sv, encode))
      // The same bytes as the diff of the base against the replica's state vector.
      expect(step2).toEqual(Y.diffUpdate(base, sv))
      expect(replica.getText('t').toString()).toBe(text.toString())
    }
    // Three answers after three appends: the base (several KB) was decoded for the first one only (the expectations'
    // own diffs above are of the base too: one per round).
    expect(diffs.sizes.filter((n) => n === base.byteLength)).toHaveLength(1 + 3)
    // A fresh peer is answered from the base itself, as before.
    const fresh = new Y.Doc()
    applied(fresh, log.answer(Y.encodeStateVector(new Y.Doc()), encode))
    expect(fresh.getText('t').toString()).toBe(text.toString())
  })
  it('RELAY-2.3: a peer up to date with a log of one merged part gets its delete set, decoded once for every later state vector that covers it', () => {
    const writer = new Y.Doc()
    writer.clientID = 1
    writer.getText('t').insert(0, 'a catalogue-like state, answered at every reconnection. '.repeat(200))
    writer.getText('t').delete(20, 500)
    const base = Y.encodeStateAsUpdate(writer)
    const log = new UpdateLog([base], Y.encodeStateVectorFromUpdate(base))
    diffs.sizes.length = 0
    // Two replicas up to date (different state vectors: one also holds an edit of its own).
    const replicas = [new Y.Doc(), new Y.Doc()]
    for (const r of replicas) Y.applyUpdate(r, base)
    ;(replicas[1] as Y.Doc).getText('t').insert(0, 'own ')
    for (const replica of replicas) {
      const sv = Y.encodeStateVector(replica)
      expect(log.lacksOnlyTail(sv)).toBe(true)
      expect(applied(replica, log.answer(sv, encode))).toEqual(Y.diffUpdate(base, sv))
    }
    // Once for the log, once per expectation above.
    expect(diffs.sizes.filter((n) => n === base.byteLength)).toHaveLength(1 + 2)
    expect((replicas[0] as Y.Doc).getText('t').toString()).toBe(writer.getText('t').toString())
  })
})
