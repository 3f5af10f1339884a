import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { rollbackUpdates } from '../../src/sync/rollback.js'
import { RESTORE } from './rollbackFixture.js'

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
