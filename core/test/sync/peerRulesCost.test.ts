/** RULES-6.8: what a peer's refused or dangling updates cost a session that checks the rules (view builds). */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { PeerRules } from '../../src/sync/PeerRules.js'
import { ANONYMOUS_WRITER } from '../../src/schema/rules.js'
import { lockRules, seedBoard, seeded } from './peerRulesFixture.js'

/** A checker of `doc` that follows it, as a `SyncSession` does. */
const checker = (doc: Y.Doc): PeerRules => {
  const rules = new PeerRules({ rules: lockRules }, doc)
  doc.on('update', rules.follow)
  return rules
}

/** A 7-byte update that deletes clock 0 of a client nobody has (a delete set, no structs). */
const danglingDeletion = (): Uint8Array => {
  const x = new Y.Doc()
  x.clientID = 4242
  x.getText('junk').insert(0, 'z')
  const y = new Y.Doc()
  Y.applyUpdate(y, Y.encodeStateAsUpdate(x))
  const sv = Y.encodeStateVector(y)
  y.getText('junk').delete(0, 1)
  return Y.encodeStateAsUpdate(y, sv)
}

/** A move of locked shape `id` by a fresh client (a malicious peer can use a new client id every time). */
const lockedMove = (seed: Uint8Array, id: string, x: number): Uint8Array => {
  const doc = seeded(seed)
  const sv = Y.encodeStateVector(doc)
  ;(doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)
  return Y.encodeStateAsUpdate(doc, sv)
}

/** An update of a fresh client inserting after an item of a client nobody has: it could only stay pending. */
const danglingOrigin = (seed: Uint8Array): Uint8Array => {
  const unknown = new Y.Doc()
  unknown.getText('t').insert(0, 'a')
  const doc = seeded(seed)
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(unknown))
  const sv = Y.encodeStateVector(doc)
  doc.getText('t').insert(1, 'b')
  return Y.encodeStateAsUpdate(doc, sv)
}

/** A valid move of unlocked shape `id` made on `doc`. */
const validMove = (doc: Y.Doc, id: string, x: number): Uint8Array => {
  const sv = Y.encodeStateVector(doc)
  ;(doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)
  return Y.encodeStateAsUpdate(doc, sv)
}

describe('a peer cannot make the view rebuild on every message (RULES-6.8)', () => {
  it('RULES-6.2 RULES-6.8: 50 updates deleting clocks the view lacks are missing, without applying anything: no rebuild', () => {
    const doc = seeded(seedBoard({ a: 'alice' }, ['b']))
    const rules = checker(doc)
    const bogus = danglingDeletion()
    const path = {}
    for (let i = 0; i < 50; i++) expect(rules.screen(path, bogus, ANONYMOUS_WRITER).kind).toBe('missing')
    expect(rules.rebuilds).toBe(1) // the first build
    // The view is intact: an honest change is still checked and accepted without another build.
    const honest = seeded(Y.encodeStateAsUpdate(doc))
    expect(rules.screen({}, validMove(honest, 'b', 5), ANONYMOUS_WRITER).kind).toBe('accepted')
    expect(rules.rebuilds).toBe(1)
  })

  it('RULES-6.8: 50 refused updates of fresh clients on one path cost one rebuild: the path is muted until its next step 2', () => {
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const doc = seeded(seed)
    const rules = checker(doc)
    const path = {}
    const kinds = new Set<string>()
    for (let i = 0; i < 25; i++) {
      kinds.add(rules.screen(path, lockedMove(seed, 'a', i), ANONYMOUS_WRITER).kind)
      kinds.add(rules.screen(path, danglingOrigin(seed), ANONYMOUS_WRITER).kind)
    }
    expect(kinds).toEqual(new Set(['refused', 'fenced']))
    expect(rules.rebuilds).toBe(1)
    // Another path is checked (one rebuild: the refusal broke the view) and accepted.
    const honest = seeded(seed)
    expect(rules.screen({}, validMove(honest, 'b', 5), ANONYMOUS_WRITER).kind).toBe('accepted')
    expect(rules.rebuilds).toBe(2)
    // The muted path's next step 2 is checked again.
    const again = seeded(seed)
    expect(rules.screen(path, validMove(again, 'b', 6), ANONYMOUS_WRITER, true).kind).toBe('accepted')
    expect(rules.rebuilds).toBe(2)
    // A path whose updates insert next to items nobody has: left pending once (the view is broken), then muted.
    const dangling = {}
    const seen: string[] = []
    for (let i = 0; i < 20; i++)
      seen.push(rules.screen(dangling, danglingOrigin(seed), ANONYMOUS_WRITER).kind)
    expect(new Set(seen)).toEqual(new Set(['missing', 'fenced']))
    expect(
      rules.screen({}, validMove(seeded(Y.encodeStateAsUpdate(doc)), 'b', 8), ANONYMOUS_WRITER).kind,
    ).toBe('accepted')
    expect(rules.rebuilds).toBe(3)
  })

  it('RULES-6.3 RULES-6.8: a told refusal fences the path (lifted by rolled-back), not muted: its restoring update is checked', () => {
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const doc = seeded(seed)
    const rules = checker(doc)
    const path = {}
    expect(rules.screen(path, lockedMove(seed, 'a', 1), ANONYMOUS_WRITER).kind).toBe('refused')
    rules.fence(path)
    expect(rules.screen(path, lockedMove(seed, 'a', 2), ANONYMOUS_WRITER).kind).toBe('fenced')
    rules.rolledBack(path)
    expect(rules.screen(path, validMove(seeded(seed), 'b', 7), ANONYMOUS_WRITER).kind).toBe('accepted')
  })
})
