import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { keepLocalDeletions, rollbackUpdates } from '../../src/sync/rollback.js'
import { seededRandom } from '../../src/testing/seededRandom.js'
import { REMOTE, RESTORE, randomEdit, rich } from './rollbackFixture.js'

/**
 * A writer that synced everything to the relay, then worked offline: valid changes to the notes and to shape `free`,
 * and `change` to the shape `locked` (refused); its step 2 to the relay is refused for the record `shapes/locked`.
 */
const offline = (change: (shapes: Y.Map<unknown>) => void) => {
  const relay = new Y.Doc()
  const writer = new Y.Doc({ gc: false })
  const shapes = writer.getMap('shapes')
  const notes = writer.getText('notes')
  notes.insert(0, 'draft secret text')
  shapes.set('locked', 'ada')
  shapes.set('gone', 'g')
  notes.delete(6, 7) // accepted
  Y.applyUpdate(relay, Y.encodeStateAsUpdate(writer))
  const relaySv = Y.encodeStateVector(relay)
  const relayStep2 = Y.encodeStateAsUpdate(relay, Y.encodeStateVector(writer))
  notes.insert(notes.length, ' + offline')
  notes.delete(0, 6) // "draft "
  shapes.set('free', 'x')
  shapes.delete('gone')
  change(shapes)
  const step2 = Y.encodeStateAsUpdate(writer, relaySv)
  /** Rolls back the step 2, refused for `shapes/locked`; the restoring update (with its deletions) goes to the relay. */
  const rollback = (deletionsKnown: boolean) => {
    const restoring: Uint8Array[] = []
    const collect = (u: Uint8Array, origin: unknown) => void (origin === RESTORE && restoring.push(u))
    writer.on('update', collect)
    const result = rollbackUpdates({
      doc: writer,
      rejected: step2,
      later: [],
      restoreOrigin: RESTORE,
      held: { deleteSets: deletionsKnown ? [Y.decodeUpdate(relayStep2).ds] : [], clock: 0, deletionsKnown },
      refusedRecord: ['shapes', 'locked'],
    })
    writer.off('update', collect)
    Y.applyUpdate(relay, Y.mergeUpdates([...restoring, ...(result.deletions ? [result.deletions] : [])]))
    return result
  }
  return { relay, writer, rollback }
}

const expectBoth = (relay: Y.Doc, writer: Y.Doc, shapes: Record<string, unknown>, notes: string) => {
  for (const doc of [writer, relay]) {
    expect(doc.getMap('shapes').toJSON()).toEqual(shapes)
    expect(doc.getText('notes').toString()).toBe(notes)
  }
  expect(relay.store.pendingStructs).toBeNull()
}

describe('rollbackUpdates: a refused step 2 keeps its valid changes (RULES-5.10)', () => {
  it('RULES-5.10: only the refused record goes back; the other offline inserts and deletions reach the relay', () => {
    const { relay, writer, rollback } = offline((shapes) => shapes.set('locked', 'bo'))
    rollback(true)
    expectBoth(relay, writer, { locked: 'ada', free: 'x' }, 'text + offline')
  })

  it('RULES-5.10: with the relay delete set unknown, the valid deletions are re-sent (only of clocks the relay has)', () => {
    const { relay, writer, rollback } = offline((shapes) => shapes.set('locked', 'bo'))
    rollback(false)
    expectBoth(relay, writer, { locked: 'ada', free: 'x' }, 'text + offline')
  })

  it('RULES-5.10: a refused deletion of the record is restored, the valid deletions stay', () => {
    const { relay, writer, rollback } = offline((shapes) => shapes.delete('locked'))
    rollback(true)
    expectBoth(relay, writer, { locked: 'ada', free: 'x' }, 'text + offline')
  })
})

describe('rollbackUpdates: random offline work, one refused record (RULES-5.10)', () => {
  for (let seed = 1; seed <= 25; seed++) {
    it(`RULES-5.10: seed ${seed}: the writer and the relay hold the relay's state plus every offline change outside the refused record`, () => {
      const rnd = seededRandom(seed)
      const relay = new Y.Doc()
      const rShapes = relay.getMap('shapes')
      for (let i = 0; i < 4; i++) {
        const m = new Y.Map<unknown>()
        rShapes.set(`r${i}`, m)
        m.set('x', i)
        const label = new Y.Text()
        m.set('label', label)
        for (let e = 0; e < 4; e++) relay.transact(() => randomEdit(rnd, label))
      }
      // The writer and the expected document: typed after the state arrives (as a session's document is).
      const fresh = () => {
        const doc = new Y.Doc()
        Y.applyUpdate(doc, Y.encodeStateAsUpdate(relay), REMOTE)
        return doc
      }
      const writer = fresh()
      keepLocalDeletions(writer, (origin) => origin !== REMOTE)
      const expected = fresh()
      const relaySv = Y.encodeStateVector(relay)
      const relayStep2 = Y.encodeStateAsUpdate(relay, Y.encodeStateVector(writer))
      // Offline edits, one transaction each; those of the refused record are left out of the expected document.
      const ops = 3 + Math.floor(rnd() * 6)
      let refusedId: string | undefined
      let created = 0
      for (let o = 0; o < ops; o++) {
        const ids = [...writer.getMap('shapes').keys()].sort()
        const id = ids[Math.floor(rnd() * ids.length)]
        const kind = rnd()
        const editSeed = Math.floor(rnd() * 2 ** 31)
        const newId = `n${created}`
        const apply = (doc: Y.Doc) => {
          const shapes = doc.getMap('shapes')
          if (kind < 0.15 || id === undefined) {
            const m = new Y.Map<unknown>()
            shapes.set(newId, m)
            m.set('x', 100)
            m.set('label', new Y.Text('new'))
            return newId
          }
          const record = shapes.get(id) as Y.Map<unknown>
          if (kind < 0.3) shapes.delete(id)
          else if (kind < 0.6) record.set('x', editSeed % 1000)
          else randomEdit(seededRandom(editSeed), record.get('label') as Y.Text)
          return id
        }
        let touched: string | undefined
        writer.transact(() => void (touched = apply(writer)))
        if (kind < 0.15 || id === undefined) created++
        refusedId ??= touched
        if (touched !== refusedId) expected.transact(() => apply(expected))
      }
      const step2 = Y.encodeStateAsUpdate(writer, relaySv)
      const restoring: Uint8Array[] = []
      writer.on('update', (u: Uint8Array, origin: unknown) => void (origin === RESTORE && restoring.push(u)))
      const result = rollbackUpdates({
        doc: writer,
        rejected: step2,
        later: [],
        restoreOrigin: RESTORE,
        held: { deleteSets: [Y.decodeUpdate(relayStep2).ds], clock: 0, deletionsKnown: true },
        refusedRecord: ['shapes', refusedId as string, 'x'],
      })
      expect(result.lost).toEqual([])
      Y.applyUpdate(
        relay,
        Y.mergeUpdates([...restoring, ...(result.deletions ? [result.deletions] : [])]),
        REMOTE,
      )
      expect(relay.store.pendingStructs).toBeNull()
      const shapes = (doc: Y.Doc) => rich(doc.getMap('shapes'))
      expect(shapes(writer)).toEqual(shapes(expected))
      expect(shapes(relay)).toEqual(shapes(writer))
    })
  }
})
