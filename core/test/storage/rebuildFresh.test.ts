import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { rebuildFresh } from '../../src/storage/epochs.js'

/** Every struct of `doc`, as (client, clock) → item. */
const itemAt = (doc: Y.Doc, client: number, clock: number): Y.Item | null => {
  for (const struct of doc.store.clients.get(client) ?? []) {
    if (struct instanceof Y.Item && struct.id.clock <= clock && clock < struct.id.clock + struct.length)
      return struct
  }
  return null
}

const build = (): Y.Doc => {
  const doc = new Y.Doc()
  const map = doc.getMap<unknown>('map')
  const nested = new Y.Map<unknown>()
  map.set('nested', nested)
  nested.set('list', Y.Array.from([1, 2, 3]))
  for (let i = 0; i < 50; i++) map.set('counter', i) // 49 overwritten values
  map.set('bytes', Uint8Array.from([1, 2, 3]))
  map.set('gone', 1)
  map.delete('gone')
  const text = doc.getText('text')
  text.insert(0, 'hello world, hello')
  text.format(0, 5, { bold: true })
  text.delete(11, 7)
  text.insertEmbed(5, { image: 'x.png' })
  const array = doc.getArray<unknown>('array')
  array.push(['a', { json: true }, null])
  const inner = new Y.Text('inner')
  array.push([inner])
  array.delete(0, 1)
  const xml = doc.getXmlFragment('xml')
  const p = new Y.XmlElement('p')
  xml.insert(0, [p])
  p.setAttribute('class', 'lead')
  const t = new Y.XmlText('para')
  p.insert(0, [t])
  t.format(0, 2, { em: true })
  return doc
}

describe('rebuildFresh (COMPACT-3.3)', () => {
  it('COMPACT-7.1: copies every kind of content, without history', () => {
    const source = build()
    const { doc, clientId } = rebuildFresh(source, { clientId: 2 ** 40 })
    expect(clientId).toBe(2 ** 40)
    expect(doc.getMap('map').toJSON()).toEqual(source.getMap('map').toJSON())
    expect(doc.getText('text').toDelta()).toEqual(source.getText('text').toDelta())
    expect(doc.getArray('array').toJSON()).toEqual(source.getArray('array').toJSON())
    expect(doc.getXmlFragment('xml').toString()).toBe(source.getXmlFragment('xml').toString())
    expect([...doc.store.clients.keys()]).toEqual([2 ** 40])
    let deleted = 0
    for (const s of doc.store.clients.get(2 ** 40) ?? [])
      if (s instanceof Y.Item && s.deleted) deleted += s.length
    expect(deleted).toBe(0)
    expect(Y.encodeStateAsUpdateV2(doc).byteLength).toBeLessThan(Y.encodeStateAsUpdateV2(source).byteLength)
  })

  it("COMPACT-7.1: keeps a text's final newlines (root, nested and XML text, formatted or not), rebuild after rebuild", () => {
    const source = new Y.Doc()
    source.getText('code').insert(0, 'fn main() {}\n\n\n')
    source.getText('bold').insert(0, 'bold\n', { bold: true })
    const nested = new Y.Text('inner\n')
    source.getMap('map').set('nested', nested)
    const p = new Y.XmlElement('p')
    source.getXmlFragment('xml').insert(0, [p])
    p.insert(0, [new Y.XmlText('para\n')])
    source.getText('only').insert(0, '\n')
    let doc = source
    for (let round = 0; round < 3; round++) {
      doc = rebuildFresh(doc).doc
      expect(doc.getText('code').toString()).toBe('fn main() {}\n\n\n')
      expect(doc.getText('bold').toDelta()).toEqual([{ insert: 'bold\n', attributes: { bold: true } }])
      expect((doc.getMap('map').get('nested') as Y.Text).toString()).toBe('inner\n')
      expect(doc.getXmlFragment('xml').toString()).toBe('<p>para\n</p>')
      expect(doc.getText('only').toString()).toBe('\n')
    }
  })

  it('COMPACT-7.1: works on a decoded document whose root types were never asked for', () => {
    const decoded = new Y.Doc()
    Y.applyUpdate(decoded, Y.encodeStateAsUpdate(build()))
    const { doc } = rebuildFresh(decoded)
    const reference = build()
    expect(doc.getMap('map').toJSON()).toEqual(reference.getMap('map').toJSON())
    expect(doc.getText('text').toDelta()).toEqual(reference.getText('text').toDelta())
    expect(doc.getXmlFragment('xml').toString()).toBe(reference.getXmlFragment('xml').toString())
  })

  it('COMPACT-3.2: provenance maps every new content item to the old item holding the same content', () => {
    const source = build()
    const { doc, clientId, provenance } = rebuildFresh(source)
    let liveNew = 0
    for (const s of doc.store.clients.get(clientId) ?? [])
      if (s instanceof Y.Item && s.countable) liveNew += s.length
    expect(provenance.reduce((n, r) => n + r.length, 0)).toBe(liveNew)
    for (const run of provenance) {
      for (let k = 0; k < run.length; k++) {
        const a = itemAt(source, run.oldClient, run.oldClock + k)
        const b = itemAt(doc, clientId, run.newClock + k)
        expect(a && b).toBeTruthy()
        const ca = a!.content.getContent()[run.oldClock + k - a!.id.clock] as unknown
        const cb = b!.content.getContent()[run.newClock + k - b!.id.clock] as unknown
        if (ca instanceof Y.AbstractType) expect(cb).toBeInstanceOf(ca.constructor as typeof Y.AbstractType)
        else expect(cb).toEqual(ca)
        expect(b!.parentSub).toBe(a!.parentSub)
      }
    }
  })
})
