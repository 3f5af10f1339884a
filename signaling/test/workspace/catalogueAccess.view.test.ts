import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CATALOGUE_COLLECTION, writeDeletion } from '@weft/core'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { ruleRefusalOf } from '../../src/relay/rules/RelayRules.js'
import { CATALOGUE_ACCESS_RULE, CatalogueGuard } from '../../src/workspace/catalogueGuard.js'

const ROOM = 'W/.catalogue'

/** A catalogue room as the guard reads it: its state, its change count; `accept` appends an update. */
const roomOf = (state: Uint8Array) => {
  const log = {
    changes: 0,
    held: state,
    state: () => log.held,
    stateVector: () => Y.encodeStateVectorFromUpdate(log.held),
  }
  const room = { docId: ROOM, log } as unknown as RelayRoom
  const accept = (update: Uint8Array) => () => {
    log.held = Y.mergeUpdates([log.held, update])
    log.changes++
    return Promise.resolve()
  }
  return { room, log, accept }
}

/** A writer (a peer the guard knows the grant of) with a copy of `state` it changes and sends from. */
const writerOf = (
  guard: CatalogueGuard,
  rooms: Readonly<Record<string, 'read' | 'write'>>,
  state: Uint8Array,
  id: number,
) => {
  const grant = new RoomGrant(rooms, undefined, `user-${id}`, {})
  /** A new connection of this writer (a refused stock writer is closed and comes back on another). */
  const connect = (): RelayPeer => {
    const peer = {} as RelayPeer
    guard.identify(peer, {
      id,
      room: ROOM,
      access: 'write',
      grant,
      subject: grant.subject,
      clientAddress: '',
    })
    return peer
  }
  const doc = new Y.Doc()
  doc.clientID = 100 + id
  Y.applyUpdate(doc, state)
  /** What `change` writes, as one update (kept in the writer's copy either way). */
  const write = (change: (d: Y.Doc) => void): Uint8Array => {
    const before = Y.encodeStateVector(doc)
    doc.transact(() => change(doc))
    return Y.encodeStateAsUpdate(doc, before)
  }
  return { connect, doc, write }
}

/** A catalogue of `n` records. */
const catalogue = (n: number): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = 1
  doc.transact(() => {
    for (let i = 0; i < n; i++) {
      const rec = new Y.Map<unknown>()
      doc.getMap(CATALOGUE_COLLECTION).set(`d${i}`, rec)
      rec.set('id', `d${i}`)
      rec.set('title', `D${i}`)
    }
  })
  return Y.encodeStateAsUpdate(doc)
}

/** The rule and path (`W/...`, '' for none) an outcome was refused with; undefined: allowed. */
const refusedRule = async (p: Promise<void>): Promise<[string, string] | undefined> => {
  try {
    await p
    return undefined
  } catch (err) {
    const verdict = ruleRefusalOf(err)?.verdict
    return (
      verdict && [verdict.ruleId, verdict.path.length > 0 ? `W/${verdict.path[verdict.path.length - 1]}` : '']
    )
  }
}

describe('CatalogueGuard view (WS-ACCESS-4)', () => {
  it('WS-ACCESS-4: refused updates leave the view as it was: refusals, then an allowed update, build the view once', async () => {
    const guard = new CatalogueGuard(pino({ level: 'silent' }))
    const state = catalogue(50)
    const { room, log, accept } = roomOf(state)
    // A writer of W/d1 only, stock (no rollback: a refusal closes its connection; it comes back, again and again).
    // Each refused update also adds a map to W/d1's record, which it may write: refused whole all the same.
    const grant = { 'W/d1': 'write', 'W/.catalogue': 'write' } as const
    const d1 = (d: Y.Doc) => d.getMap(CATALOGUE_COLLECTION).get('d1') as Y.Map<unknown>
    const tries = Array.from({ length: 20 }, (_, i) => writerOf(guard, grant, state, 10 + i))
    for (const [i, alice] of tries.entries()) {
      const bad = alice.write((d) => {
        d1(d).set('tags', new Y.Map())
        writeDeletion(d, 'd7', i + 1)
      })
      expect(await refusedRule(guard.screen(room, bad, alice.connect(), accept(bad)))).toEqual([
        CATALOGUE_ACCESS_RULE,
        'W/d7',
      ])
    }
    expect(log.changes).toBe(0)
    // Its own record, written from a fresh copy (as after a reconnection): allowed, checked against the same view.
    const fresh = writerOf(guard, grant, state, 2)
    const good = fresh.write((d) => d1(d).set('title', 'mine'))
    await guard.screen(room, good, fresh.connect(), accept(good))
    expect(log.changes).toBe(1)
    expect(guard.viewBuilds).toBe(1)
    // None of the refused updates reached the view: a change inside the map they added (W/d1 only) depends on
    // what the relay does not have, and is refused as such, not allowed as a change of W/d1.
    const alice = tries[tries.length - 1]!
    const inside = alice.write((d) => (d1(d).get('tags') as Y.Map<unknown>).set('k', 1))
    expect(await refusedRule(guard.screen(room, inside, alice.connect(), accept(inside)))).toEqual([
      CATALOGUE_ACCESS_RULE,
      '',
    ])
    expect(log.changes).toBe(1)
    expect(guard.viewBuilds).toBe(1)
  })
})
