import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { UpdateLog } from '../../src/relay/UpdateLog.js'
import { nullSubdocOptions, tinyUpdate } from './hostileFixtures.js'

const text = (update: Uint8Array): string => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc.getText('t').toString()
}

describe('UpdateLog against updates Yjs cannot merge (issue 17)', () => {
  it('RELAY-9.1 a tail that Yjs cannot merge never makes append or state throw: the bad part is dropped', () => {
    // Validation is bypassed here on purpose: this is the defence behind it (a store written before SYNC-3.5).
    const log = new UpdateLog([])
    expect(log.append(tinyUpdate(7, 0))).toBe(true)
    expect(log.append(nullSubdocOptions())).toBe(true) // nothing merges it yet
    for (let i = 1; i < 300; i++) expect(log.append(tinyUpdate(7, i))).toBe(true)
    expect(log.dropped).toBe(1)
    expect(() => log.stateVector()).not.toThrow()
    expect(text(log.state())).toBe('x'.repeat(300))
  })

  it('RELAY-9.1 a refused update is not in the state, the state vector or the answers', () => {
    const log = new UpdateLog([])
    const tiny = Array.from({ length: 256 }, (_, i) => tinyUpdate(7, i))
    for (const u of tiny) expect(log.append(u)).toBe(true)
    // The 257th part makes the log merge its tail: that merge refuses the poison.
    expect(log.append(nullSubdocOptions())).toBe(false)
    expect(log.stateVector()).toEqual(Y.encodeStateVectorFromUpdate(Y.mergeUpdates(tiny)))
    expect(text(log.state())).toBe('x'.repeat(256))
    expect(log.append(tinyUpdate(7, 256))).toBe(true)
    expect(text(log.state())).toBe('x'.repeat(257))
  })
})
