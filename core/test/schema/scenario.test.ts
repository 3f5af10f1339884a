import { expect, it } from 'vitest'
import { openTyped } from '../../src/index.js'
import { boardV1, boardV2, contentOf, newDoc, syncAll } from './fixtures.js'

it('SCHEMA-4.4 SCHEMA-4.6 scenario: v1 writes offline, v2 migrates, they sync: nothing lost, v1 read-only', () => {
  const a = newDoc(1)
  const b = newDoc(2)
  // both peers run app v1 and share a board
  const v1 = openTyped(a, boardV1)
  v1.root.shapes.insert({ kind: 'rect', x: 0, y: 0, color: 'red' }, { id: 's1' })
  v1.root.shapes.insert({ kind: 'sticky', x: 10, y: 10, color: 'yellow', label: 'todo' }, { id: 's2' })
  syncAll([a, b])

  // offline: the v1 peer keeps working
  v1.root.shapes.insert({ kind: 'stroke', x: 1, y: 1, color: 'green', points: [0, 0, 5, 5] }, { id: 's3' })
  v1.root.shapes.update('s1', { color: 'purple' })
  v1.root.shapes.record('s2')?.text('label')?.insert(4, ' (from v1)')
  v1.root.meta.set('budget', 50)

  // the other peer upgrades to app v2 and migrates, then edits
  const v2 = openTyped(b, boardV2)
  expect(v2.migration?.applied).toEqual(['whiteboard/2'])
  v2.root.shapes.update('s2', { x: 99 })
  v2.root.meta.set('budget', 70)

  syncAll([a, b])

  // both documents are identical
  expect(contentOf(a)).toEqual(contentOf(b))
  // v1 is read-only and says why
  expect(v1.status).toBe('upgrade-required')
  expect(v1.root.shapes.update('s1', { x: 1 })).toMatchObject({ ok: false, reason: 'upgrade-required' })
  // v2 sees v1's offline writes, migrated
  expect(v2.root.shapes.get('s1')).toMatchObject({ fill: 'purple', rotation: 0 })
  expect(v2.root.shapes.get('s2')).toMatchObject({ fill: 'yellow', x: 99 })
  expect(v2.root.shapes.get('s2')?.label.toString()).toBe('todo (from v1)')
  expect(v2.root.shapes.get('s3')).toMatchObject({
    kind: 'stroke',
    fill: 'green',
    rotation: 0,
    points: [0, 0, 5, 5],
  })
  expect(v2.root.shapes.values()).toHaveLength(3)
  expect(v2.root.layers.values()).toHaveLength(1)
  // the concurrent budget writes: one wins, the other is in the conflict log on both peers
  const budget = v2.root.meta.get('budget')
  expect(v2.conflicts.list().map((c) => c.value)).toEqual([budget === 50 ? 70 : 50])
  expect(v1.conflicts.list()).toEqual(v2.conflicts.list())
  expect(v2.validate()).toEqual([])
})
