import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { Feature, encodeRolledBack, encodeSyncUpdate } from '@weft/core/protocol'
import type { MemoryRelayClient } from '../../../src/relay/MemoryRelaySocket.js'
import { nextOf, sendStep1, startMemoryRelay, weftHello, type MemoryRelay } from './memoryRelay.js'

let relay: MemoryRelay | null = null
afterEach(async () => {
  vi.restoreAllMocks()
  await relay?.close()
  relay = null
})

/** A connection greeted and answered, with `hello` (null: a stock client). */
const joined = async (
  r: MemoryRelay,
  hello: ReturnType<typeof weftHello> | null,
): Promise<MemoryRelayClient> => {
  const client = r.connect('room-1')
  sendStep1(client, new Y.Doc(), hello)
  await nextOf(client, 'sync-step2')
  return client
}

/** Sends `count` one-character edits of client `id` from `writer` and waits until `reader` received them all. */
const edits = async (writer: MemoryRelayClient, reader: MemoryRelayClient, id: number, count: number) => {
  const doc = new Y.Doc()
  doc.clientID = id
  for (let i = 0; i < count; i++) {
    const before = Y.encodeStateVector(doc)
    doc.getText('t').insert(0, 'x')
    writer.send(encodeSyncUpdate(Y.encodeStateAsUpdate(doc, before), null))
  }
  for (let i = 0; i < count; i++) await nextOf(reader, 'sync-update')
}

describe('the RULES-5.1 count per update (issue 13: nothing kept per update of a stock writer)', () => {
  it('RULES-5.15: updates of a stock writer, and of a Weft writer without rollback, leave no entry per update; a writer that announced rollback keeps one', async () => {
    const r = (relay = startMemoryRelay())
    const reader = await joined(r, null)
    const stock = await joined(r, null)
    const weft = await joined(r, weftHello())
    const rolling = await joined(r, weftHello({ features: Feature.Ack | Feature.Chunk | Feature.Rollback }))
    // Every WeakMap entry the relay makes while the writers send (counted by hand: expect itself makes some).
    const set = WeakMap.prototype.set
    let entries = 0
    vi.spyOn(WeakMap.prototype, 'set').mockImplementation(function (
      this: WeakMap<object, unknown>,
      key,
      value,
    ) {
      entries++
      return set.call(this, key, value)
    })
    // A `rolled-back` from connections that did not announce rollback is ignored (their count stays 0).
    stock.send(encodeRolledBack(7))
    weft.send(encodeRolledBack(8))
    await edits(stock, reader, 101, 10)
    await edits(weft, reader, 102, 10)
    const withoutRollback = entries
    await edits(rolling, reader, 103, 10)
    const withRollback = entries - withoutRollback
    vi.restoreAllMocks()
    expect(withoutRollback).toBe(0)
    expect(withRollback).toBe(10)
  })
})
