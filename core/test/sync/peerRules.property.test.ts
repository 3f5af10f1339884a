import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession } from '../../src/index.js'
import { randomInt, randomPick, seededRandom, type Rand } from '../../src/testing/index.js'
import { TestNet, type TestPeer } from './peers.js'
import { lockRules, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

const LOCKED = { a: 'alice', b: 'bob', c: 'carol' } as const
const FREE = ['u1', 'u2'] as const

const peer = (net: TestNet, name: string, seed: Uint8Array, checks: boolean): TestPeer => {
  const doc = seeded(seed)
  const session = new SyncSession({ doc, ...(checks ? { rules: { rules: lockRules } } : {}) })
  const p: TestPeer = { name, doc, session, links: new Map(), errors: [] }
  session.on('error', ({ error }) => p.errors.push(error))
  net.peers.set(name, p)
  return p
}

const shape = (doc: Y.Doc, id: string) => doc.getMap('shapes').get(id) as Y.Map<unknown> | undefined

/** A valid edit: any peer (an anonymous writer to the others) moves a free shape. */
const honestEdit = (rand: Rand, doc: Y.Doc): void => {
  shape(doc, randomPick(rand, FREE))?.set('x', randomInt(rand, 99))
}

/** Anything the lock rule or the schema forbids, written with plain Yjs: marked by x >= 1000 or by "mallory". */
const maliciousEdit = (rand: Rand, doc: Y.Doc): void => {
  const locked = randomPick(rand, Object.keys(LOCKED))
  switch (randomInt(rand, 5)) {
    case 0:
      return void shape(doc, locked)?.set('x', 1000 + randomInt(rand, 99))
    case 1:
      return void shape(doc, locked)?.set('lockedBy', 'mallory')
    case 2:
      return void doc.getMap('shapes').delete(locked)
    case 3:
      return void doc.getMap('shapes').set(
        'evil',
        new Y.Map<unknown>([
          ['x', 1],
          ['lockedBy', 'alice'],
        ]),
      )
    case 4:
      return void shape(doc, randomPick(rand, FREE))?.set('x', 'not a number')
    default:
      // A valid edit: taken only while it does not build on a refused one (RULES-4.4).
      return honestEdit(rand, doc)
  }
}

/** Whether the rules hold in `doc`: the locked shapes are as locked, nothing malicious is in it, every record is valid. */
const holdsRules = (doc: Y.Doc): boolean => {
  const shapes = shapesOf(doc)
  if (Object.keys(shapes).sort().join() !== 'a,b,c,u1,u2') return false
  for (const [id, by] of Object.entries(LOCKED))
    if (shapes[id]?.x !== 10 || shapes[id]?.lockedBy !== by) return false
  return FREE.every((id) => shapes[id]?.lockedBy === '' && typeof shapes[id]?.x === 'number')
}

describe('peers checking the lock rule converge and keep it (RULES-6.2, property)', () => {
  it('RULES-6.2 RULES-6.5: random edits of 3 honest peers and a malicious one over a reordering, lossy mesh: the honest peers converge and always satisfy the rules', () => {
    for (let s = 1; s <= 20; s++) {
      const rand = seededRandom(s)
      const net = new TestNet()
      const seed = seedBoard(LOCKED, FREE)
      const honest = ['h1', 'h2', 'h3'].map((n) => peer(net, n, seed, true))
      const mallory = peer(net, 'mallory', seed, false)
      const all = [...honest, mallory]
      for (let i = 0; i < all.length; i++)
        for (let j = i + 1; j < all.length; j++) net.connect(all[i] as TestPeer, all[j] as TestPeer)
      net.flush()

      for (let step = 0; step < 60; step++) {
        const who = randomInt(rand, 3)
        if (who === 3) maliciousEdit(rand, mallory.doc)
        else honestEdit(rand, (honest[who] as TestPeer).doc)
        // Deliver a few messages in random order, now and then dropping one.
        for (let k = randomInt(rand, 6); k > 0 && net.network.pending > 0; k--) {
          const index = randomInt(rand, net.network.pending - 1)
          net.network.deliver(index, rand() < 0.05 ? 'drop' : 'deliver')
          for (const h of honest)
            if (!holdsRules(h.doc)) expect(shapesOf(h.doc), `seed ${s} step ${step}`).toBe('held')
        }
        if (rand() < 0.1) randomPick(rand, honest).session.resync()
      }
      // Heal what was dropped: every honest peer asks again, twice (the answers may need what was asked).
      for (let round = 0; round < 2; round++) {
        for (const h of honest) h.session.resync()
        net.flush()
      }
      for (const h of honest) {
        expect(holdsRules(h.doc), `seed ${s}`).toBe(true)
        expect(h.errors, `seed ${s}`).toEqual([])
        expect(shapesOf(h.doc), `seed ${s}`).toEqual(shapesOf((honest[0] as TestPeer).doc))
      }
      for (const p of all) p.session.destroy()
    }
  })
})
