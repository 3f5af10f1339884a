/**
 * HOOK-3.4, RULES-4.9: a closed connection's updates waiting for a ruled room's rebuild are dropped at once, as those
 * waiting for `onUpdate` are (one HeldInput per connection): never checked, stored or acknowledged.
 */
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

const fresh = (id: string, x: number, author: string, label = '', name = id): Uint8Array => {
  const doc = new Y.Doc()
  writeShape(doc, id, x, author, label, name)
  return Y.encodeStateAsUpdate(doc)
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * A ruled room `board-big` of 1,000 shapes whose view mallory's two refusals spoiled, the second rebuild charged to
 * her: the room's next updates wait for her rebuild budget (RULES-4.9). `seeder` and carol are connected and synced;
 * `then(carol)` runs as soon as the second refusal is known, before the budget's wait (four times a rebuild of 1,000
 * shapes) can have passed, so that what carol sends there surely waits.
 */
const spoiledRoom = async (then: (carol: Writer) => void) => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  const seeder = await seedShapes(r, 1000)
  const mallory = new Writer(r.connect('board-big', 'mallory'))
  const carol = new Writer(r.connect('board-big', 'carol'))
  await Promise.all([mallory.synced(), carol.synced()])
  for (let i = 0; i < 2; i++) {
    const refused = nextOf(mallory.client, 'rejected')
    mallory.send(fresh(`bad${i}`, 1000, 'mallory'))
    await refused
    if (i === 1) then(carol)
    mallory.rolledBack()
    await turn()
  }
  /** Waits until every update that waited in the room was screened (the seeder's ack passes none of them). */
  const drained = async () => {
    seeder.send(fresh('late', 1, 'seeder'))
    await nextOf(seeder.client, 'ack')
  }
  return { r, carol, drained }
}

it('HOOK-3.4, RULES-4.9: an update waiting for the rebuild of a connection that closes is dropped at once, never stored', async () => {
  let held = 0
  let released = -1
  const { r, drained } = await spoiledRoom((carol) => {
    carol.send(fresh('carols', 5, 'carol'))
    // It waits for the rebuild, held (charged) for carol's connection.
    held = carol.client.relay.heldInputBytes
    carol.client.close()
    // Dropped with the connection: its bytes given back at once, not when the room's queue reaches it.
    released = carol.client.relay.heldInputBytes
  })
  expect(held).toBeGreaterThan(0)
  expect(released).toBe(0)
  await drained()
  const stored = await r.stored('board-big')
  expect(stored.getMap('shapes').has('carols')).toBe(false)
  expect(stored.getMap('shapes').has('s999')).toBe(true)
}, 60_000)

it('HOOK-3.4, RULES-4.9: a connection closed past the bound loses every update it had waiting, not only the last', async () => {
  const cap = DEFAULT_LIMITS.maxRelayMessageBytes
  const big = 'y'.repeat(1024 * 1024)
  // Valid shapes (their rules check would accept them) of about 1 MiB each: a long name.
  const updates = Array.from({ length: Math.ceil((2 * cap) / big.length) }, (_, i) =>
    fresh(`ok${i}`, 5, 'carol', '', `ok${i}-${big}`),
  )
  const sent: string[] = []
  let closeCode: number | undefined
  let heldAfter = -1
  const { r, drained } = await spoiledRoom((flood) => {
    for (let i = 0; !flood.client.closeInfo && i < updates.length; i++) {
      flood.send(updates[i] as Uint8Array)
      sent.push(`ok${i}`)
    }
    closeCode = flood.client.closeInfo?.code
    heldAfter = flood.client.relay.heldInputBytes
  })
  expect(closeCode).toBe(CloseCode.RateLimited)
  expect(heldAfter).toBe(0)
  await drained()
  const stored = await r.stored('board-big')
  expect(sent.length).toBeGreaterThan(2)
  expect(sent.filter((id) => stored.getMap('shapes').has(id))).toEqual([])
}, 60_000)
