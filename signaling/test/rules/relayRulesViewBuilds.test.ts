/**
 * RULES-4.10: a ruled room's view is built from the room's whole state only when the room's content changed another
 * way, and every build, a room's first included, is charged to the rebuild budget (RULES-4.9) and waits its turn.
 */
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { defineRules } from '@weft/core/rules'
import type { MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { RelayRules, ruleRefusalOf } from '../../src/relay/rules/RelayRules.js'
import { nextOf } from '../relay/unit/memoryRelay.js'
import { Writer, board, startRuledRelay } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** A debug logger that keeps the relay's log lines: counts them by message, or waits for the next one. */
const capturedLog = () => {
  const lines: Array<{ msg?: string }> = []
  const waiting: Array<{ msg: string; resolve: () => void }> = []
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        const parsed = JSON.parse(line) as { msg?: string }
        lines.push(parsed)
        for (const w of waiting.splice(0)) {
          if (w.msg === parsed.msg) w.resolve()
          else waiting.push(w)
        }
      },
    },
  )
  return {
    logger,
    count: (msg: string) => lines.filter((l) => l.msg === msg).length,
    next: (msg: string) => new Promise<void>((resolve) => waiting.push({ msg, resolve })),
  }
}

/** Resolves once the relay acknowledged `seq` (acks are cumulative). */
const acked = async (client: MemoryRelayClient, seq: number): Promise<void> => {
  for (;;) if ((await nextOf(client, 'ack')).seq >= seq) return
}

const BUILT = 'rules view built'
const COMPACTIONS = 5

describe('the view survives what changes no content (RULES-4.10)', () => {
  it('RULES-4.10: 5 log compactions of a ruled room, with accepted writes between, cost no view build', async () => {
    const log = capturedLog()
    // Every second stored update compacts the room's log (inline: the state is small).
    const r = startRuledRelay(undefined, { compaction: { maxUpdates: 2, minTailRatio: 0 } }, log.logger)
    cleanups.push(r.close)
    const alice = new Writer(r.connect('board-1', 'alice'))
    await alice.synced()
    await acked(
      alice.client,
      alice.write((shapes) => shapes.insert({ name: 'a', x: 0, author: 'alice' }, { id: 'a' })),
    )
    const first = log.count(BUILT)
    expect(first).toBe(1)
    for (let i = 1; i <= COMPACTIONS; i++) {
      const compacted = log.next('compacted')
      await acked(
        alice.client,
        alice.write((shapes) => shapes.update('a', { x: i })),
      )
      await acked(
        alice.client,
        alice.write((shapes) => shapes.update('a', { x: i + 10 })),
      )
      await compacted
    }
    expect(log.count('compacted')).toBeGreaterThanOrEqual(COMPACTIONS)
    // The view is still the room's: a breaking update is refused and a valid one accepted, without a build.
    const refused = nextOf(alice.client, 'rejected')
    alice.write((shapes) => shapes.update('a', { x: 1000 }))
    expect((await refused).ruleId).toBe('shapes.x.max')
    expect(log.count(BUILT)).toBe(first)
    expect(((await r.stored('board-1')).getMap('shapes').get('a') as Y.Map<unknown>).get('x')).toBe(
      COMPACTIONS + 10,
    )
  })

  it('RULES-4.10: a handshake update that adds nothing (deletions the room holds) costs no view build', async () => {
    const log = capturedLog()
    const r = startRuledRelay(undefined, {}, log.logger)
    cleanups.push(r.close)
    const alice = new Writer(r.connect('board-1', 'alice'))
    await alice.synced()
    alice.write((shapes) => shapes.insert({ name: 'a', x: 0, author: 'alice' }, { id: 'a' }))
    await acked(
      alice.client,
      alice.write((shapes) => shapes.delete('a')),
    )
    expect(log.count(BUILT)).toBe(1)
    // A second client's sync step 2: nothing the room lacks, only the delete set it already holds (as every
    // handshake of a document with deletions sends), ten times over.
    const bob = new Writer(r.connect('board-1', 'bob'))
    await bob.synced()
    const deletions = Y.encodeStateAsUpdate(bob.doc, Y.encodeStateVector(bob.doc))
    expect(Y.decodeUpdate(deletions).ds.clients.size).toBeGreaterThan(0)
    let seq = 0
    for (let i = 0; i < 10; i++) seq = bob.send(deletions)
    await acked(bob.client, seq)
    // Then real edits are checked against the same view.
    await acked(
      bob.client,
      bob.write((shapes) => shapes.insert({ name: 'b', x: 1, author: 'bob' }, { id: 'b' })),
    )
    expect(log.count(BUILT)).toBe(1)
  })
})

describe('every view build is charged and waits its turn (RULES-4.9, RULES-4.10)', () => {
  /** Shapes' `x` in 0..100 (no owner). */
  const xRules = defineRules(board, { collections: { shapes: { fields: { x: { min: 0, max: 100 } } } } })
  /** A ruled room's stand-in holding `records` shapes: its log counts the updates it took. */
  const standIn = (docId: string, records: number) => {
    const doc = new Y.Doc()
    doc.transact(() => {
      for (let i = 0; i < records; i++) {
        const record = new Y.Map<unknown>()
        doc.getMap('shapes').set(`s${i}`, record)
        record.set('name', `s${i}`)
        record.set('x', i % 100)
        record.set('author', '')
        record.set('label', new Y.Text())
      }
    })
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
    return { room: { docId, log } as unknown as RelayRoom, accept, doc }
  }
  const peer = (): RelayPeer => ({ sendMessage: () => undefined }) as RelayPeer
  const valid = (id: string): Uint8Array => {
    const doc = new Y.Doc()
    const record = new Y.Map<unknown>()
    doc.getMap('shapes').set(id, record)
    record.set('name', id)
    record.set('x', 1)
    record.set('author', '')
    record.set('label', new Y.Text())
    return Y.encodeStateAsUpdate(doc)
  }
  const outcome = (p: Promise<void>) =>
    p.then(
      () => 'accepted',
      (err: unknown) => ruleRefusalOf(err)?.verdict.ruleId ?? 'error',
    )

  it("RULES-4.10: the first views of two large rooms are not built back to back: the second room's updates wait, in order, and are accepted", async () => {
    // The default budget: after a build of `t` charged to these (anonymous) writers, their next build waits 4 t.
    const rules = new RelayRules({ 'board-*': xRules }, pino({ level: 'silent' }))
    const a = standIn('board-a', 1000)
    const b = standIn('board-b', 1000)
    const first = valid('a1')
    expect(await outcome(rules.screen(a.room, first, peer(), a.accept(first)))).toBe('accepted')
    expect(rules.viewBuilds).toBe(1)
    // Room b's first view waits for the budget: its updates queue (b2 behind b1), nothing is refused.
    const [b1, b2] = [valid('b1'), valid('b2')]
    const one = outcome(rules.screen(b.room, b1, peer(), b.accept(b1)))
    const two = outcome(rules.screen(b.room, b2, peer(), b.accept(b2)))
    expect(rules.queued(b.room)).not.toBeNull()
    expect(rules.viewBuilds).toBe(1)
    expect(b.doc.getMap('shapes').has('b1')).toBe(false)
    // Room a, whose view is current, is not delayed meanwhile.
    const more = valid('a2')
    expect(await outcome(rules.screen(a.room, more, peer(), a.accept(more)))).toBe('accepted')
    expect(rules.queued(a.room)).toBeNull()
    const seen: string[] = []
    b.doc.getMap('shapes').observe((e) => seen.push(...e.keysChanged))
    expect([await one, await two]).toEqual(['accepted', 'accepted'])
    expect(seen).toEqual(['b1', 'b2'])
    expect(rules.viewBuilds).toBe(2)
  })
})
