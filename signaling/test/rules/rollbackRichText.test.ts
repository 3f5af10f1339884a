import { afterEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { defineRules } from '@weft/core/rules'
import { board, ruledClient, settled, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** Shapes owned by their `author`: only the owner edits a shape's label. */
const ownedLabels = defineRules(board, { collections: { shapes: { owner: 'author' } } })

const labelOf = (doc: Y.Doc, id: string) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).get('label') as Y.Text

describe('rollback of rich text through a ruled relay (RULES-5.9)', () => {
  it("RULES-5.9: a refused edit of formatted text: the writer shows the relay's text with its marks again", async () => {
    const r = startRuledRelay({ 'board-*': ownedLabels })
    cleanups.push(r.close)
    const room = 'board-rich'
    const alice = await ruledClient(r, room, 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'a', x: 1, author: 'alice', label: '' }, { id: 'a' })
    const label = labelOf(alice.doc, 'a')
    label.insert(0, 'see ')
    label.insert(4, 'this', { bold: true, link: { href: 'https://weft.example' } })
    label.insert(8, ' now', {})
    await settled(alice.session)
    const bob = await ruledClient(r, room, 'bob', cleanups)
    await until(bob.doc, () => labelOf(bob.doc, 'a')?.toString() === 'see this now')

    const rejected = new Promise<{ ruleId: string }>((resolve) => bob.session.on('rejected', resolve))
    const bobLabel = labelOf(bob.doc, 'a')
    bob.doc.transact(() => {
      bobLabel.delete(2, 4) // "e th": refused, the shape is alice's
      bobLabel.format(0, 2, { italic: true })
    })
    expect((await rejected).ruleId).toBe('shapes.owner')
    await settled(bob.session)
    const stored = labelOf(await r.stored(room), 'a')
    expect(stored.toDelta()).toEqual([
      { insert: 'see ' },
      { insert: 'this', attributes: { bold: true, link: { href: 'https://weft.example' } } },
      { insert: ' now' },
    ])
    expect(bobLabel.toDelta()).toEqual(stored.toDelta())
    expect(labelOf(alice.doc, 'a').toDelta()).toEqual(stored.toDelta())
  })
})
