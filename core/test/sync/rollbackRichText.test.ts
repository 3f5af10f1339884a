import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { seededRandom } from '../../src/testing/seededRandom.js'
import { expectConverged, randomEdit, rich, richState, setup } from './rollbackFixture.js'

/** `relay`'s text `t`: "plain " then "bold" (bold) then " end". */
const boldSeed = (relay: Y.Doc) => {
  const t = relay.getText('t')
  t.insert(0, 'plain ')
  t.insert(6, 'bold', { bold: true })
  t.insert(10, ' end', {}) // no attributes: not bold (without, it would take the bold of its left)
}

describe('rollback of rich text (RULES-5.9)', () => {
  it('RULES-5.9: deleted bold text comes back bold', () => {
    const { relay, writer, accept, rollback } = setup(boldSeed)
    const t = writer.getText('t')
    t.delete(6, 4) // refused
    const { result, X } = rollback(accept(0))
    expect(t.toDelta()).toEqual([
      { insert: 'plain ' },
      { insert: 'bold', attributes: { bold: true } },
      { insert: ' end' },
    ])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: text replaced by typing over a formatted selection is back with its formatting', () => {
    const { relay, writer, accept, rollback } = setup(boldSeed)
    const t = writer.getText('t')
    writer.transact(() => {
      t.delete(4, 8) // "e bold e"
      t.insert(4, 'XY', { italic: true })
    })
    const { result, X } = rollback(accept(0))
    expect(rich(t)).toEqual(rich(relay.getText('t')))
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: a refused removal of a mark (format null) gives the mark back', () => {
    const { relay, writer, accept, rollback } = setup(boldSeed)
    const t = writer.getText('t')
    t.format(6, 4, { bold: null }) // refused: deletes the other client's format items
    expect(t.toDelta()).toEqual([{ insert: 'plain bold end' }])
    const { result, X } = rollback(accept(0))
    expect(t.toDelta()).toEqual([
      { insert: 'plain ' },
      { insert: 'bold', attributes: { bold: true } },
      { insert: ' end' },
    ])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: a refused mark is taken off, a mark changed to another value gets its old value', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const t = r.getText('t')
      t.insert(0, 'see the docs', { link: { href: 'a' } })
    })
    const t = writer.getText('t')
    writer.transact(() => {
      t.format(0, 3, { bold: true })
      t.format(4, 3, { link: { href: 'b' } })
    })
    const { result, X } = rollback(accept(0))
    expect(t.toDelta()).toEqual([{ insert: 'see the docs', attributes: { link: { href: 'a' } } }])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: a deleted embed comes back with its attributes', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const t = r.getText('t')
      t.insert(0, 'ab')
      t.insertEmbed(1, { image: 'cat.png' }, { width: 3 })
    })
    const t = writer.getText('t')
    t.delete(1, 1)
    const { result, X } = rollback(accept(0))
    expect(t.toDelta()).toEqual([
      { insert: 'a' },
      { insert: { image: 'cat.png' }, attributes: { width: 3 } },
      { insert: 'b' },
    ])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: the formatting a later (valid) update added in the same text stays', () => {
    const { relay, writer, accept, rollback } = setup(boldSeed)
    const t = writer.getText('t')
    t.delete(0, 6) // refused: "plain "
    t.format(4, 4, { italic: true }) // later, valid: " end"
    t.insert(8, '!', { underline: true }) // later, valid
    const { result, X } = rollback(accept(0))
    expect(t.toDelta()).toEqual([
      { insert: 'plain ' },
      { insert: 'bold', attributes: { bold: true } },
      { insert: ' end', attributes: { italic: true } },
      { insert: '!', attributes: { underline: true } },
    ])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it("RULES-5.9: a text's own attribute (setAttribute) the refused update changed gets its old value", () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const text = new Y.XmlText('hello')
      r.getXmlFragment('doc').insert(0, [text])
      text.setAttribute('lang', 'en')
    })
    const text = writer.getXmlFragment('doc').get(0) as Y.XmlText
    text.setAttribute('lang', 'fr')
    const { result, X } = rollback(accept(0))
    expect(text.getAttributes()).toEqual({ lang: 'en' })
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: a deleted record comes back with its rich text formatted', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const m = new Y.Map<unknown>()
      r.getMap('shapes').set('s1', m)
      const label = new Y.Text()
      m.set('label', label)
      label.insert(0, 'big ')
      label.insert(4, 'red', { color: 'red' })
      label.insertEmbed(7, { icon: 'x' })
      label.setAttribute('dir', 'rtl')
    })
    const shapes = writer.getMap('shapes')
    shapes.delete('s1')
    const { result, X } = rollback(accept(0))
    expect(rich(shapes)).toEqual(rich(relay.getMap('shapes')))
    expect(rich(shapes.get('s1'))).toEqual({
      label: {
        text: [
          { insert: 'big ' },
          { insert: 'red', attributes: { color: 'red' } },
          { insert: { icon: 'x' } },
        ],
      },
    })
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.9: a deleted paragraph (XML element) comes back with its attributes, text and marks', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const doc = r.getXmlFragment('doc')
      const p1 = new Y.XmlElement('paragraph')
      const p2 = new Y.XmlElement('heading')
      doc.insert(0, [p1, p2])
      p2.setAttribute('level', '2')
      const text = new Y.XmlText()
      p2.insert(0, [text])
      text.insert(0, 'Title ')
      text.insert(6, 'here', { em: {} })
      p1.insert(0, [new Y.XmlText('first')])
    })
    const doc = writer.getXmlFragment('doc')
    writer.transact(() => {
      doc.delete(1, 1)
      ;(doc.get(0) as Y.XmlElement).setAttribute('align', 'center')
    })
    const { result, X } = rollback(accept(0))
    expect(rich(doc)).toEqual(rich(relay.getXmlFragment('doc')))
    expect(rich(doc.get(1))).toEqual({
      element: 'heading',
      attrs: { level: '2' },
      children: [{ xmlText: [{ insert: 'Title ' }, { insert: 'here', attributes: { em: {} } }], attrs: {} }],
    })
    expectConverged(relay, writer, X, result.fromClock)
  })
})

/** The texts a property run edits: two top-level texts and the XmlText of each paragraph of a fragment. */
const texts = (doc: Y.Doc) => ({
  t0: doc.getText('t0'),
  t1: doc.getText('t1'),
  paragraphs: doc.getXmlFragment('doc'),
})

describe('rollback of a record the refused update changed, then deleted (RULES-5.4)', () => {
  it('RULES-5.4: the record comes back as the relay holds it, without the refused change', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      const m = new Y.Map<unknown>()
      r.getMap('shapes').set('s1', m)
      m.set('x', 1)
      m.set('tags', Y.Array.from(['a']))
    })
    const shapes = writer.getMap('shapes')
    writer.transact(() => {
      const s1 = shapes.get('s1') as Y.Map<unknown>
      s1.set('x', 999)
      ;(s1.get('tags') as Y.Array<string>).push(['refused'])
      shapes.delete('s1')
    })
    const { result, X } = rollback(accept(0))
    expect(shapes.toJSON()).toEqual({ s1: { x: 1, tags: ['a'] } })
    expectConverged(relay, writer, X, result.fromClock)
  })
})

describe('rollback of random rich-text edits (RULES-5.9)', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`RULES-5.9: seed ${seed}: the writer shows the relay's text, formatting included, plus its later valid edits`, () => {
      const rnd = seededRandom(seed)
      const seedDoc = (r: Y.Doc) => {
        const { t0, t1, paragraphs } = texts(r)
        for (let p = 0; p < 3; p++) {
          const el = new Y.XmlElement(p === 0 ? 'heading' : 'paragraph')
          paragraphs.insert(p, [el])
          el.insert(0, [new Y.XmlText()])
          el.setAttribute('align', p === 1 ? 'center' : 'left')
        }
        const xml = () => (paragraphs.get(Math.floor(rnd() * 3)) as Y.XmlElement).get(0) as Y.XmlText
        // Several transactions: their format items, cleaned up and deleted, are part of the structure too.
        for (let i = 0; i < 12; i++) r.transact(() => randomEdit(rnd, [t0, t1, xml()][i % 3]!))
      }
      const { relay, writer, accept, rollback } = setup(seedDoc)
      const w = texts(writer)
      // The refused update: 1-3 edits of t0 or of a paragraph (its text, its attribute, or the paragraph itself).
      let refused = 0
      const count = () => void refused++
      writer.on('update', count)
      writer.transact(() => {
        const n = 1 + Math.floor(rnd() * 3)
        for (let e = 0; e < n; e++) {
          const r = rnd()
          const el = w.paragraphs.get(Math.floor(rnd() * w.paragraphs.length)) as Y.XmlElement | undefined
          if (r < 0.5 || el === undefined) randomEdit(rnd, w.t0)
          else if (r < 0.8) randomEdit(rnd, el.get(0) as Y.XmlText)
          else if (r < 0.9) el.setAttribute('align', 'right')
          else w.paragraphs.delete(Math.floor(rnd() * w.paragraphs.length), 1)
        }
      })
      // Edits that change nothing (a mark set where it holds) make no update: then one that does.
      if (refused === 0) w.t0.insert(0, 'z', { bold: true })
      writer.off('update', count)
      // Later, valid updates: edits of t1 (which the refused one did not touch), each its own transaction; the same
      // edits on a copy of the relay's state give the expected outcome.
      // (Typed after the state arrives, as the writer's texts were: Yjs tidies the format items of a text that is typed
      // when a remote update arrives, and the same edit can format differently on a tidied structure.)
      const expected = new Y.Doc()
      Y.applyUpdate(expected, Y.encodeStateAsUpdate(relay))
      texts(expected)
      const later = Math.floor(rnd() * 4)
      for (let e = 0; e < later; e++) {
        const editSeed = Math.floor(rnd() * 2 ** 31)
        writer.transact(() => randomEdit(seededRandom(editSeed), w.t1))
        expected.transact(() => randomEdit(seededRandom(editSeed), expected.getText('t1')))
      }
      const { result, X } = rollback(accept(0))
      expect(result.lost).toEqual([])
      expect(richState(writer)).toEqual(richState(expected))
      expectConverged(relay, writer, X, result.fromClock)
    })
  }
})
