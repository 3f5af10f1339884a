import { afterEach, describe, expect, it } from 'vitest'
import { TombstoneSightings, docId, tombstoneSightingsKey } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { MemoryMesh, storedText } from './support/memoryMesh.js'

// Issue #15, security review F1: in a relay-less mesh a peer's clock (or a hostile peer) wrote a tombstone with
// deletedAt = 1 and every replica purged the document's data at its next purge, not a retention later.
const W = 'team'
const DAY = 24 * 60 * 60 * 1000

let mesh: MemoryMesh
afterEach(async () => {
  await mesh.close()
})

/** A victim replica holding document `plan` (text "months of work"), and a peer `m` with the clock `peerNow`. */
const setup = async (peerNow: () => number) => {
  mesh = new MemoryMesh(W)
  const clock = { now: 1_800_000_000_000 }
  const v = await mesh.replica('v', { now: () => clock.now, retention: DAY })
  expect(v.ws.create({ id: 'plan', title: 'Plan' }).ok).toBe(true)
  const doc = await v.ws.open('plan')
  doc.doc.getText('t').insert(0, 'months of work')
  await v.ws.close('plan')
  await v.ws.flushed()
  const m = await mesh.replica('m', { now: peerNow, retention: DAY })
  mesh.net.link(v.mux.base as never, m.mux.base as never)
  await mesh.until(() => m.ws.list.get('plan') !== undefined)
  expect(m.ws.delete('plan')).toEqual({ ok: true })
  await mesh.until(() => v.ws.list.get('plan')?.deleted === true)
  return { v, m, clock }
}

describe('purge: the retention counts from the first sighting (WS-PURGE-11)', () => {
  it('WS-PURGE-11: a peer tombstone with deletedAt 1 purges nothing before a retention after this replica first saw it, also across a restart', async () => {
    const { v, clock } = await setup(() => 1)
    expect(v.ws.list.get('plan')?.deletedAt).toBe(1)
    await v.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBe('months of work')
    clock.now += DAY - 1
    await v.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBe('months of work')
    // A restart (offline, same store) reads the recorded first sighting: it neither resets nor shortens it.
    await v.ws.destroy()
    const again = await mesh.replica('v2', { store: v.store, now: () => clock.now, retention: DAY })
    await again.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBe('months of work')
    clock.now += 1
    await again.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBeNull()
  })

  it('WS-PURGE-11: a deletedAt in the far future postpones nothing: the data goes a retention after the first sighting', async () => {
    const { v, clock } = await setup(() => 10 ** 15)
    expect(v.ws.list.get('plan')?.deletedAt).toBe(10 ** 15)
    clock.now += DAY - 1
    await v.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBe('months of work')
    clock.now += 1
    await v.ws.purge()
    expect(await storedText(v.store, W, 'plan')).toBeNull()
  })

  it('WS-PURGE-11: a first sighting is recorded durably; one later than now (the clock was set back) is recorded again as now', async () => {
    const store = new MemoryDocStore()
    const key = tombstoneSightingsKey(W)
    expect(key).toBe(docId(`${W}/~purge`))
    const s = await TombstoneSightings.load(store, key)
    expect(await s.sight('a', 5_000)).toBe(5_000)
    expect(await s.sight('a', 9_000)).toBe(5_000)
    expect(await s.sight('b', 4_000_000_000_000)).toBe(4_000_000_000_000)
    const reread = await TombstoneSightings.load(store, key)
    expect(reread.get('a')).toBe(5_000)
    expect(await reread.sight('b', 6_000)).toBe(6_000) // the clock reads earlier now: counted from now
    expect((await TombstoneSightings.load(store, key)).get('b')).toBe(6_000)
    expect(await reread.reconcile(['b'], 7_000)).toEqual(new Map([['b', 6_000]]))
    expect((await TombstoneSightings.load(store, key)).get('a')).toBeUndefined()
  })
})
