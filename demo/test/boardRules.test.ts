import * as Y from 'yjs'
import { jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { openTyped } from '../src/schemaApi.js'
import { RulesView } from '@weft/core/rules'
import { demoSchemaV1, demoSchemaV2 } from '../src/board/boardSchema.js'
import { boardRules, checkShapeWrites, rulesForRoom } from '../src/board/boardRules.js'
import { DEMO_AUTH_SECRET, hmacSha256, mintDevToken } from '../src/devToken.js'

const ada = { subject: 'ada-id', claims: {} }
const bo = { subject: 'bo-id', claims: {} }

/** A demo document with one rectangle, locked by Ada when `locked`. */
const board = (locked: boolean) => {
  const doc = new Y.Doc()
  const typed = openTyped(doc, demoSchemaV1)
  const res = typed.root.shapes.insert({ kind: 'rect', x: 10, y: 20, text: '', points: [] })
  if (!res.ok) throw new Error(res.reason)
  if (locked) typed.root.shapes.update(res.id, { lockedBy: 'ada-id', lockedByName: 'Ada' })
  return { doc, id: res.id }
}

describe("the demo's rule: a locked shape is changed by its locker only (RULES-2.4)", () => {
  it('RULES-2.4: anyone moves, recolours or deletes an unlocked shape', () => {
    const { doc, id } = board(false)
    expect(checkShapeWrites(doc, bo, [{ id, patch: { x: 99 } }])).toEqual({ ok: true })
    expect(checkShapeWrites(doc, bo, [{ id, patch: { color: '#ffffff' } }])).toEqual({ ok: true })
    expect(checkShapeWrites(doc, bo, [{ id, patch: null }])).toEqual({ ok: true })
  })

  it('RULES-2.4: only the locker moves, edits or deletes a locked shape; others get "Locked by <name>"', () => {
    const { doc, id } = board(true)
    expect(checkShapeWrites(doc, ada, [{ id, patch: { x: 99 } }])).toEqual({ ok: true })
    expect(checkShapeWrites(doc, ada, [{ id, patch: null }])).toEqual({ ok: true })
    const notice = 'Locked by Ada: not allowed'
    expect(checkShapeWrites(doc, bo, [{ id, patch: { x: 99 } }])).toMatchObject({
      ok: false,
      ruleId: 'shapes.update',
      reason: notice,
    })
    expect(checkShapeWrites(doc, bo, [{ id, patch: null }])).toMatchObject({
      ruleId: 'shapes.delete',
      reason: notice,
    })
    expect(checkShapeWrites(doc, { subject: undefined, claims: {} }, [{ id, patch: {} }])).toMatchObject({
      ok: false,
    })
  })

  it('RULES-2.4: a writer locks an unlocked shape for itself only; only the locker unlocks', () => {
    const open = board(false)
    expect(checkShapeWrites(open.doc, bo, [{ id: open.id, patch: { lockedBy: 'bo-id' } }]).ok).toBe(true)
    expect(checkShapeWrites(open.doc, bo, [{ id: open.id, patch: { lockedBy: 'ada-id' } }]).ok).toBe(false)
    const locked = board(true)
    expect(checkShapeWrites(locked.doc, ada, [{ id: locked.id, patch: { lockedBy: '' } }]).ok).toBe(true)
    expect(checkShapeWrites(locked.doc, bo, [{ id: locked.id, patch: { lockedBy: '' } }]).ok).toBe(false)
    expect(checkShapeWrites(locked.doc, ada, [{ id: locked.id, patch: { lockedBy: 'bo-id' } }]).ok).toBe(
      false,
    )
  })

  it('RULES-4.1: the demo documents are ruled, a workspace catalogue is not', () => {
    expect(rulesForRoom('doc-1')).toBe(boardRules)
    expect(rulesForRoom('demo/doc-1')).toBe(boardRules)
    expect(rulesForRoom('demo/.catalogue')).toBeNull()
  })
})

describe("the demo's dev token (a demo arrangement, devToken.ts)", () => {
  it('HMAC-SHA-256 matches RFC 4231 test case 2', () => {
    const mac = hmacSha256(
      new TextEncoder().encode('Jefe'),
      new TextEncoder().encode('what do ya want for nothing?'),
    )
    expect(Buffer.from(mac).toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    )
  })

  it('a minted token verifies with the dev secret as the relay verifies it, with the subject and a write grant', async () => {
    const { payload } = await jwtVerify(mintDevToken('ada-id'), new TextEncoder().encode(DEMO_AUTH_SECRET), {
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
    })
    expect(payload).toMatchObject({ sub: 'ada-id', rooms: { '*': 'write' } })
    await expect(
      jwtVerify(
        mintDevToken('ada-id', 'another-secret-of-at-least-32-bytes!!'),
        new TextEncoder().encode(DEMO_AUTH_SECRET),
      ),
    ).rejects.toThrow()
  })
})

describe('v1 and v2 pages in one ruled room (RULES-2.8, RULES-4.11)', () => {
  it('RULES-2.8 RULES-4.11: the relay takes what both versions write: v1 shapes (color), v2 marks and shapes (fill)', () => {
    const { doc } = board(false)
    const view = new RulesView(boardRules, new Uint8Array())
    expect(view.check(Y.encodeStateAsUpdate(doc), ada)).toEqual({ ok: true })
    // A v2 page opens the document: it marks v2 and the migration, and renames color to fill.
    const before = Y.encodeStateVector(doc)
    const v2 = openTyped(doc, demoSchemaV2)
    expect(v2.documentVersion).toBe(2)
    expect(v2.root.shapes.insert({ kind: 'sticky', x: 1, y: 2, text: 'hi', points: [] }).ok).toBe(true)
    expect(view.check(Y.encodeStateAsUpdate(doc, before), bo)).toEqual({ ok: true })
    // A forged version above v2 is still refused.
    const forged = new Y.Doc()
    Y.applyUpdate(forged, Y.encodeStateAsUpdate(doc))
    const at = Y.encodeStateVector(forged)
    forged.getMap('__weft').set('v:3', true)
    expect(view.check(Y.encodeStateAsUpdate(forged, at), bo)).toMatchObject({ ok: false, ruleId: 'reserved' })
  })
})
