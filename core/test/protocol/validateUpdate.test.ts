import fc from 'fast-check'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { validateUpdate } from '../../src/protocol/index.js'

/** A document that uses every content type of the V1 update format. */
const richUpdates = (): Uint8Array[] => {
  const doc = new Y.Doc()
  const out: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => out.push(u))
  const text = doc.getText('t')
  text.insert(0, 'héllo wörld 😀')
  text.format(0, 5, { bold: true }) // ContentFormat
  text.insertEmbed(3, { image: 'x.png' }) // ContentEmbed
  text.delete(2, 3)
  const map = doc.getMap('m')
  map.set('n', 1) // ContentAny
  map.set('o', { a: [1, 'two', null, true], b: 1.5 })
  map.set('bin', Uint8Array.from([1, 2, 3])) // ContentBinary
  map.set('nested', new Y.Map()) // ContentType
  const frag = doc.getXmlFragment('x')
  const el = new Y.XmlElement('p') // ContentType with a name
  frag.insert(0, [el])
  el.insert(0, [new Y.XmlText('para')])
  el.setAttribute('class', 'c')
  map.set('sub', new Y.Doc()) // ContentDoc
  const arr = doc.getArray('a')
  arr.insert(0, [1, 2, 3])
  arr.delete(1, 1) // delete set
  map.delete('n')
  out.push(Y.encodeStateAsUpdate(doc))
  return out
}

const stateOf = (doc: Y.Doc) => Y.encodeStateAsUpdate(doc)

describe('validateUpdate', () => {
  it('SYNC-3.4 accepts every update Yjs produces, with every content type', () => {
    for (const u of richUpdates()) expect(() => validateUpdate(u)).not.toThrow()
  })

  it('SYNC-3.4 no prefix or mutation of an update leaves the document inconsistent', () => {
    const updates = richUpdates()
    const full = updates.at(-1)!
    const base = new Y.Doc()
    base.getText('t').insert(0, 'base')
    const baseState = stateOf(base)
    const check = (candidate: Uint8Array) => {
      let accepted = true
      try {
        validateUpdate(candidate)
      } catch {
        accepted = false
      }
      if (!accepted) return
      const doc = new Y.Doc()
      Y.applyUpdate(doc, baseState)
      try {
        Y.applyUpdate(doc, candidate)
      } catch {
        // Yjs refused a well-formed but inconsistent update (only a crafted one is): whatever it integrated
        // before refusing are whole items, and the document is still a consistent Yjs document.
        const copy = new Y.Doc()
        Y.applyUpdate(copy, stateOf(doc))
        expect(copy.getText('t').toString()).toBe(doc.getText('t').toString())
        expect(JSON.stringify(copy.getMap('m').toJSON())).toBe(JSON.stringify(doc.getMap('m').toJSON()))
        expect(copy.getArray('a').toJSON()).toEqual(doc.getArray('a').toJSON())
        expect(copy.getText('t').toString()).toContain('base')
      }
    }
    for (let k = 0; k < full.length; k++) check(full.subarray(0, k))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(updates.length - 1),
        (mutations, which) => {
          const u = updates[which]!.slice()
          for (const [pos, byte] of mutations) u[pos % u.length] = byte
          check(u)
        },
      ),
      { numRuns: 3000, seed: 42 },
    )
  })

  it('SYNC-3.4 reports how much of an update is deleted content (0: a garbage-collecting rebuild drops nothing)', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'hello world')
    doc.getMap('m').set('k', 1)
    expect(validateUpdate(Y.encodeStateAsUpdate(doc)).deleted).toBe(0)
    doc.getText('t').delete(0, 6)
    doc.getMap('m').set('k', 2)
    expect(validateUpdate(Y.encodeStateAsUpdate(doc)).deleted).toBe(7)
  })

  it('SYNC-3.4 rejects garbage with invalid-update', () => {
    for (const g of [Uint8Array.from([5]), Uint8Array.from([1, 1, 1, 0, 31]), Uint8Array.from([1, 200, 1])]) {
      expect(() => validateUpdate(g)).toThrow(expect.objectContaining({ code: 'invalid-update' }))
    }
  })

  it('SYNC-3.4 with { strings: true } invalid UTF-8 is refused too (for relays that store without applying)', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'abc')
    const u = Y.encodeStateAsUpdate(doc)
    const i = u.lastIndexOf(0x62) // the "b" of "abc"
    const bad = u.slice()
    bad[i] = 0xff
    expect(() => validateUpdate(bad)).not.toThrow()
    expect(() => validateUpdate(bad, { strings: true })).toThrow(
      expect.objectContaining({ code: 'invalid-update' }),
    )
    expect(() => validateUpdate(u, { strings: true })).not.toThrow()
  })
})
