/**
 * RULES-4.9 with an `onUpdate` hook (HOOK-3.3): an ack never covers an update that still waits, first for the hook,
 * then for the room's rules view. The ack of a later (empty) update used to read the room's wait queue before the
 * hook had passed the earlier update to it, and so acknowledged an update neither stored nor yet refused.
 */
import { pino } from 'pino'
import { afterEach, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, type DocStore } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import { ServerMetrics } from '../../src/metrics/ServerMetrics.js'
import { memoryRelaySocketPair, type MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { RelayHub } from '../../src/relay/RelayHub.js'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'
import { nextOf } from '../relay/unit/memoryRelay.js'
import { Writer, boardRules } from '../rules/relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})
const writeShape = (doc: Y.Doc, id: string, x: number, author: string): void => {
  const record = new Y.Map<unknown>()
  doc.getMap('shapes').set(id, record)
  record.set('name', id)
  record.set('x', x)
  record.set('author', author)
  record.set('label', new Y.Text())
}
const fresh = (id: string, x: number, author: string): Uint8Array => {
  const doc = new Y.Doc()
  writeShape(doc, id, x, author)
  return Y.encodeStateAsUpdate(doc)
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

for (const bad of [true, false])
  it(`RULES-4.9 HOOK-3.3: with an onUpdate hook, the ack of a later update waits for an earlier one held for the rules view (${bad ? 'refused: rejected comes first' : 'valid: stored when acked'})`, async () => {
    const store: DocStore = new MemoryDocStore()
    const metrics = new ServerMetrics({
      connections: () => [],
      topics: () => 0,
      docsLoaded: () => 0,
      relayRooms: () => 0,
    })
    const hub: RelayHub = new RelayHub({
      store,
      ownsStore: false,
      options: { commitWindowMs: 5, rules: { 'board-*': boardRules } },
      limits: DEFAULT_LIMITS,
      metrics,
      logger: pino({ level: 'silent' }),
      // A hook that decides asynchronously (an app's lookup): the update reaches the rules after it.
      hooks: {
        onUpdate: async () => {
          await new Promise((r) => setTimeout(r, 5))
          return undefined
        },
      },
    })
    cleanups.push(() => hub.close())
    let ids = 0
    const connect = (room: string, subject: string): MemoryRelayClient => {
      const { relay, client } = memoryRelaySocketPair()
      const grant = new RoomGrant({ '*': 'write' }, undefined, subject, {})
      hub.accept(relay, room, 'write', {
        id: ++ids,
        room,
        access: 'write',
        grant,
        subject,
        clientAddress: '',
      })
      return client
    }
    const seeder = new Writer(connect('board-big', 'seeder'))
    await seeder.synced()
    const doc = new Y.Doc()
    for (let i = 0; i < 1000; i++) writeShape(doc, `s${i}`, i % 100, 'seeder')
    seeder.send(Y.encodeStateAsUpdate(doc))
    await nextOf(seeder.client, 'ack')
    const mallory = new Writer(connect('board-big', 'mallory'))
    const carol = new Writer(connect('board-big', 'carol'))
    await Promise.all([mallory.synced(), carol.synced()])
    for (let i = 0; i < 2; i++) {
      const ans = nextOf(mallory.client, 'rejected')
      mallory.send(fresh(`bad${i}`, 1000, 'mallory'))
      await ans
      mallory.rolledBack()
      await turn()
    }
    // room now waits for mallory's budget. carol: seq 1 = a shape breaking x.max, seq 2 = empty update.
    const order: string[] = []
    const t0 = performance.now()
    const ack = nextOf(carol.client, 'ack').then(async (m) => {
      const st = await store.load(docId('board-big'))
      const sd = new Y.Doc()
      for (const u of st?.updates ?? []) Y.applyUpdate(sd, u)
      order.push(
        `ack ${m.seq} @${(performance.now() - t0).toFixed(0)}ms (c-1 stored: ${sd.getMap('shapes').has('c-1')})`,
      )
    })
    const rej = !bad
      ? Promise.resolve()
      : nextOf(carol.client, 'rejected').then((m) =>
          order.push(`rejected ${m.seq} @${(performance.now() - t0).toFixed(0)}ms`),
        )
    carol.send(fresh('c-1', bad ? 1000 : 5, 'carol'))
    carol.send(new Uint8Array([0, 0]))
    await Promise.all([ack, rej])
    if (bad) expect(order.map((o) => o.split(' ')[0])).toEqual(['rejected', 'ack'])
    else expect(order).toEqual([expect.stringMatching(/c-1 stored: true\)$/)])
  }, 60_000)
