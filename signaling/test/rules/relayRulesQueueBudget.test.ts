/** RULES-4.9, HOOK-3.6: updates waiting for a ruled room's rebuild are charged to the input budget and bounded. */
import { afterEach, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'
import { nextOf } from '../relay/unit/memoryRelay.js'
import { Writer, startRuledRelay, seedShapes, writeShape } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const fresh = (id: string, x: number, author: string, label = ''): Uint8Array => {
  const doc = new Y.Doc()
  writeShape(doc, id, x, author, label)
  return Y.encodeStateAsUpdate(doc)
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

it('RULES-4.9: a connection whose updates waiting for the rebuild pass the bound is closed; held bytes stay bounded', async () => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  const seeder = await seedShapes(r, 1000)
  const mallory = new Writer(r.connect('board-big', 'mallory'))
  const flood = new Writer(r.connect('board-big', 'mallory'))
  await Promise.all([mallory.synced(), flood.synced()])
  const cap = DEFAULT_LIMITS.maxRelayMessageBytes
  const big = 'y'.repeat(1024 * 1024)
  const updates = Array.from({ length: Math.ceil((2 * cap) / big.length) }, (_, i) =>
    fresh(`ok${i}`, 5, 'mallory', big),
  )
  const largest = Math.max(...updates.map((u) => u.byteLength))
  let maxHeld = 0
  // Refusal 1 spoils the view; the rebuild of refusal 2 is charged to mallory: the room now waits for the budget.
  // The flood is sent as soon as refusal 2 is known, before that wait can have passed (on a busy machine too).
  for (let i = 0; i < 2; i++) {
    const refused = nextOf(mallory.client, 'rejected')
    mallory.send(fresh(`bad${i}`, 1000, 'mallory'))
    await refused
    if (i === 1) {
      for (let j = 0; j < updates.length && !flood.client.closeInfo; j++) {
        flood.send(updates[j] as Uint8Array)
        maxHeld = Math.max(maxHeld, flood.client.relay.heldInputBytes)
      }
    }
    mallory.rolledBack()
    await turn()
  }
  // Charged to the input budget while they wait, closed once those behind the oldest would pass the bound.
  expect(maxHeld).toBeGreaterThan(0)
  expect(maxHeld).toBeLessThanOrEqual(cap + largest)
  expect(flood.client.closeInfo?.code).toBe(CloseCode.RateLimited)
  // What waited is released once screened: the seeder's next ack passes nothing that waited (RULES-4.9).
  seeder.send(fresh('late', 1, 'seeder'))
  await nextOf(seeder.client, 'ack')
  expect(flood.client.relay.heldInputBytes).toBe(0)
}, 60_000)
