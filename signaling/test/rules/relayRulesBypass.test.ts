/**
 * The relay's rules see every kind of write (issue 16, review F1): a stock writer holding a write token stores
 * nothing the rules forbid, whether it hides from a record's plain value (an undeclared key, an embed, a format, a
 * nested type in text) or goes to Weft's own types (a `__weft` version mark that would make every Weft client open
 * the document `upgrade-required`).
 */
import { afterEach, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode, openTyped } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { RESERVED_RULE } from '@weft/core/rules'
import { nextOf } from '../relay/unit/memoryRelay.js'
import { Writer, board, startRuledRelay } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** A room holding Alice's shape `a` (label "hi"), written by an honest Weft client; its stored state. */
const seeded = async () => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  const alice = new Writer(r.connect('board-1', 'alice'))
  await alice.synced()
  alice.write((shapes) => {
    shapes.insert({ name: 'a', x: 5, author: 'alice', label: 'hi' }, { id: 'a' })
  })
  await nextOf(alice.client, 'ack')
  await r.hub.room('board-1')?.whenDurable()
  return { r, honest: Y.encodeStateAsUpdate(await r.stored('board-1')) }
}

const label = (doc: Y.Doc): Y.Text =>
  (doc.getMap<Y.Map<unknown>>('shapes').get('a') as Y.Map<unknown>).get('label') as Y.Text

const forgeries: ReadonlyArray<readonly [string, string, (doc: Y.Doc) => void]> = [
  ['a __weft version mark v:99', RESERVED_RULE, (d) => d.getMap('__weft').set('v:99', true)],
  [
    'a __weft mark of a migration the schema does not declare',
    RESERVED_RULE,
    (d) => d.getMap('__weft').set('m:board/2', true),
  ],
  [
    'an undeclared 1 MB key in Alice’s record',
    'shapes.schema',
    (d) => (d.getMap('shapes').get('a') as Y.Map<unknown>).set('junk', 'J'.repeat(1 << 20)),
  ],
  [
    'a 1 MB embed and a javascript: link in Alice’s label (maxLength 10)',
    'shapes.schema',
    (d) => {
      label(d).insertEmbed(1, { big: 'E'.repeat(1 << 20) })
      label(d).format(0, 2, { href: 'javascript:alert(1)' })
    },
  ],
  ['a Y.Map embedded in Alice’s label', 'shapes.schema', (d) => label(d).insertEmbed(0, new Y.Map())],
]

for (const [what, ruleId, forge] of forgeries) {
  it(`RULES-2.8 RULES-4.11: ${what}, written by a stock client, is refused (4405, ${ruleId}); the stored document is the honest one`, async () => {
    const { r, honest } = await seeded()
    const mallory = new Writer(r.connect('board-1', 'mallory'), { stock: true })
    await mallory.synced()
    // A stock y-websocket client's document: the room's state, then the forgery.
    const doc = new Y.Doc()
    Y.applyUpdate(doc, honest)
    const before = Y.encodeStateVector(doc)
    forge(doc)
    mallory.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(doc, before), null))
    const closed = await mallory.client.closed
    expect(closed.code).toBe(CloseCode.UpdateRejected)
    expect(closed.reason).toMatch(new RegExp(`^${ruleId}`))
    await r.hub.room('board-1')?.whenDurable()
    const stored = await r.stored('board-1')
    expect(Y.encodeStateAsUpdate(stored)).toEqual(honest)
    // A Weft client opens it writable, with Alice's label as she wrote it.
    const typed = openTyped(stored, board)
    expect(typed.status).toBe('ready')
    expect(label(stored).toDelta()).toEqual([{ insert: 'hi' }])
  })
}
