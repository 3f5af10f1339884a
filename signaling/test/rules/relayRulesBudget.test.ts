/**
 * RULES-4.9: a writer looping on refusals in a large ruled room cannot stall the relay: the rebuilds its refusals cause
 * are charged to it under a budget, the spoiled room's updates wait (never refused), other rooms keep being served.
 */
import { performance } from 'node:perf_hooks'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { decodeMessage, encodeSyncUpdate } from '@weft/core/protocol'
import { defineRules } from '@weft/core/rules'
import type { MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { pino } from 'pino'
import type { ConnectionContext } from '../../src/hooks.js'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { RelayRules, ruleRefusalOf } from '../../src/relay/rules/RelayRules.js'
import { nextOf } from '../relay/unit/memoryRelay.js'
import { Writer, board, startRuledRelay, seedShapes, writeShape } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** Records in the large ruled room: its view's rebuild takes 50-300 ms here (the guide measures 10,000). */
const RECORDS = 1000
/** Refused updates the hostile writer sends, each after the `rejected` answer to the one before. */
const REFUSALS = 4

/** A shape by a fresh client id (so never `depends-on-rejected`): `x` out of 0..100 breaks the rules. */
const freshShape = (id: string, x: number, author: string): Uint8Array => {
  const doc = new Y.Doc()
  writeShape(doc, id, x, author)
  return Y.encodeStateAsUpdate(doc)
}

/** A ruled relay whose room `board-big` holds {@link RECORDS} shapes. */
const largeRuledRoom = async () => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  await seedShapes(r, RECORDS)
  return r
}

/** Two stock clients of an unruled room: `ping()` sends an edit from one and resolves when the other has it. */
const unruledRoom = async (r: ReturnType<typeof startRuledRelay>) => {
  const a = new Writer(r.connect('plain-1', 'alice'), { stock: true })
  const b = new Writer(r.connect('plain-1', 'bob'), { stock: true })
  await Promise.all([a.synced(), b.synced()])
  const text = a.doc.getText('t')
  let n = 0
  const ping = async (): Promise<number> => {
    const start = performance.now()
    // The edit arrives in a later turn of the event loop, as over a socket.
    await turn()
    const arrived = nextOf(b.client, 'sync-update')
    const sv = Y.encodeStateVector(a.doc)
    text.insert(0, String(n++ % 10))
    a.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(a.doc, sv), null))
    await arrived
    return performance.now() - start
  }
  return { ping }
}

/** The hostile writer's loop: a refused update, the `rejected` answer, `rolled-back`, the next refused update. */
const refusalLoop = async (client: MemoryRelayClient, writer: Writer, count: number): Promise<string[]> => {
  const rules: string[] = []
  for (let i = 0; i < count; i++) {
    const answer = nextOf(client, 'rejected')
    writer.send(freshShape(`bad${i}`, 1000, 'mallory'))
    rules.push((await answer).ruleId)
    writer.rolledBack()
    await turn()
  }
  return rules
}

/** Resolves in the event loop's next turn (what a socket's next message waits for). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Resolves once the relay acknowledged `seq` (acks are cumulative). */
const acked = async (client: MemoryRelayClient, seq: number): Promise<void> => {
  for (;;) if ((await nextOf(client, 'ack')).seq >= seq) return
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

describe('refusals cannot stall the relay (RULES-4.9)', () => {
  it('RULES-4.9: while a writer loops on refusals in a large ruled room, an unruled room keeps its round trips', async () => {
    const r = await largeRuledRoom()
    const plain = await unruledRoom(r)
    // Baseline: round trips with nothing else going on (after a warm-up).
    for (let i = 0; i < 200; i++) await plain.ping()
    const baseline: number[] = []
    for (let i = 0; i < 300; i++) baseline.push(await plain.ping())

    const mallory = new Writer(r.connect('board-big', 'mallory'))
    await mallory.synced()
    let attacking = true
    const attack = refusalLoop(mallory.client, mallory, REFUSALS).finally(() => (attacking = false))
    const during: number[] = []
    while (attacking) during.push(await plain.ping())
    expect(await attack).toEqual(Array(REFUSALS).fill('shapes.x.max'))
    // The unruled room was served all along: on average its round trips took less than ten times the baseline (1.8 times measured under load)
    // (the rebuilds may take at most a fifth of the time of one writer; without the budget each round trip waits
    // for one whole rebuild, hundreds of times the baseline).
    expect(mean(during) / mean(baseline), `${mean(during)} ms against ${mean(baseline)} ms`).toBeLessThan(10)
  }, 60_000)

  it('RULES-4.9 RULES-5.4: an honest writer in the spoiled room waits, is never refused for the budget, and converges', async () => {
    const r = await largeRuledRoom()
    const mallory = new Writer(r.connect('board-big', 'mallory'))
    const carol = new Writer(r.connect('board-big', 'carol'))
    await Promise.all([mallory.synced(), carol.synced()])
    // A first refusal spoils the view; the second's check rebuilds it, charged to mallory, and spoils it again: the
    // third's rebuild, charged to mallory too, must wait its turn (4 times the last one), so the room waits. (With
    // one refusal before, whether the room waited depended on how long ago the room's first view was built.)
    expect(await refusalLoop(mallory.client, mallory, 2)).toEqual(['shapes.x.max', 'shapes.x.max'])
    const second = nextOf(mallory.client, 'rejected')
    mallory.send(freshShape('bad2', 1000, 'mallory'))
    // Carol's valid updates arrive right after, while the room waits for mallory's budget: they are checked after
    // the rebuild, in order, and acknowledged once stored.
    const forwarded = mallory.client.received.length
    const seqs = [
      carol.write((shapes) => shapes.insert({ name: 'c1', x: 1, author: 'carol' }, { id: 'c1' })),
      carol.write((shapes) => shapes.update('c1', { x: 2 })),
    ]
    // They wait: not forwarded yet (an accepted update is forwarded as the room takes it).
    expect(mallory.client.received.length).toBe(forwarded)
    expect((await second).ruleId).toBe('shapes.x.max')
    await acked(carol.client, seqs[1] as number)
    expect(carol.client.received.filter((m) => decodeMessage(m).type === 'rejected')).toEqual([])
    const stored = (await r.stored('board-big')).getMap('shapes').get('c1') as Y.Map<unknown>
    expect(stored.get('x')).toBe(2)
  }, 60_000)
})

describe('updates waiting for a rebuild (RULES-4.9)', () => {
  /** A ruled room's stand-in: its log counts the updates it took, its state is theirs. */
  const standIn = () => {
    const doc = new Y.Doc()
    const log = {
      changes: 0,
      state: () => Y.encodeStateAsUpdate(doc),
      parts: () => [Y.encodeStateAsUpdate(doc)],
      stateVector: () => Y.encodeStateVector(doc),
    }
    const accept = (update: Uint8Array) => (): Promise<void> => {
      Y.applyUpdate(doc, update)
      log.changes++
      return Promise.resolve()
    }
    return { room: { docId: 'board-1', log } as unknown as RelayRoom, accept, doc }
  }
  /** Shapes' `x` in 0..100 (no owner: every connection writes anonymously here). */
  const xRules = defineRules(board, { collections: { shapes: { fields: { x: { min: 0, max: 100 } } } } })
  /** A connection that announced `rollback` and has sent no `rolled-back` yet. */
  const rollbackPeer = (): RelayPeer =>
    ({ sendMessage: () => undefined, rollbacksBefore: () => 0 }) as RelayPeer
  const outcome = (p: Promise<void>) =>
    p.then(
      () => 'accepted',
      (err: unknown) =>
        ruleRefusalOf(err)?.fenced ? 'fenced' : (ruleRefusalOf(err)?.verdict.ruleId ?? 'error'),
    )

  it('RULES-4.9 RULES-5.1: while the room waits, others wait in order; a fenced writer is refused at once, not held', async () => {
    // Only the per-writer share counts here (the first view's build, charged to the seeder, delays nobody else).
    const rules = new RelayRules({ 'board-*': xRules }, pino({ level: 'silent' }), {
      perWriter: 0.05,
      total: 1,
    })
    const { room, accept, doc } = standIn()
    const mallory = rollbackPeer()
    const [bad1, bad2, bad3] = ['bad1', 'bad2', 'bad3'].map((id) => freshShape(id, 1000, ''))
    const good = freshShape('good', 1, '')
    // A room large enough that a rebuild takes milliseconds (what the budget's wait is a multiple of).
    for (let i = 0; i < RECORDS; i++) writeShape(doc, `s${i}`, i % 100, '')
    // The room's first view is built for the seeder's update (and charged to it, RULES-4.10).
    const seeder = rollbackPeer()
    rules.identify(seeder, { subject: 'seeder', clientAddress: '' } as ConnectionContext)
    const seed = freshShape('seed', 1, '')
    expect(await outcome(rules.screen(room, seed, seeder, accept(seed)))).toBe('accepted')
    // The first refusal spoils the room's view.
    expect(
      await outcome(rules.screen(room, bad1 as Uint8Array, rollbackPeer(), accept(bad1 as Uint8Array))),
    ).toBe('shapes.x.max')
    // The second's rebuild is charged (the next one waits 19 times as long), and the room's next update waits.
    const second = outcome(rules.screen(room, bad2 as Uint8Array, mallory, accept(bad2 as Uint8Array)))
    const waiting = outcome(rules.screen(room, good, rollbackPeer(), accept(good)))
    expect(rules.queued(room)).not.toBeNull()
    // Mallory has not rolled back: its next update is refused unchecked now, while the other one waits.
    const third = outcome(rules.screen(room, bad3 as Uint8Array, mallory, accept(bad3 as Uint8Array)))
    expect(await second).toBe('shapes.x.max')
    expect(await third).toBe('fenced')
    expect(doc.getMap('shapes').has('good')).toBe(false)
    expect(await waiting).toBe('accepted')
    expect(doc.getMap('shapes').has('good')).toBe(true)
    await rules.queued(room)
    expect(rules.queued(room)).toBeNull()
  })
})
