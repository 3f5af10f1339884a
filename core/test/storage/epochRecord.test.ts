import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError } from '../../src/WeftError.js'
import { INITIAL_EPOCH } from '../../src/index.js'
import {
  MIN_EPOCH_CLIENT,
  chooseEpoch,
  compareEpochs,
  decodeEpochRecord,
  encodeEpochRecord,
  epochClient,
  epochSeq,
  startEpoch,
  verifyEpochRecord,
} from '../../src/storage/epochs.js'

const sample = (): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = 7
  const text = doc.getText('t')
  text.insert(0, 'hello world')
  text.format(0, 5, { bold: true })
  text.delete(5, 1)
  for (let i = 0; i < 20; i++) doc.getMap('m').set('k', i)
  return doc
}

describe('epochClient (COMPACT-3.3, COMPACT-5.3)', () => {
  it('COMPACT-3.3: re-applied changes keep their client; the init writer is deterministic, above every live id', () => {
    for (const c of [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 40 + 3, 2 ** 52 + 5]) {
      expect(epochClient('3-0123456789abcdef', c)).toBe(c)
    }
    const init = epochClient('0', 'init')
    expect(init).toBe(epochClient('0', 'init'))
    expect(Number.isSafeInteger(init) && init >= MIN_EPOCH_CLIENT).toBe(true)
    expect(init).not.toBe(epochClient('1-0123456789abcdef', 'init'))
  })

  it('COMPACT-5.3: keeps the order of every client id, also ids carried over from earlier epochs', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 53 - 1 }), fc.nat({ max: 2 ** 53 - 1 }), (a, b) => {
        const [x, y] = [epochClient('e', a), epochClient('e', b)]
        expect(Math.sign(x - y)).toBe(Math.sign(a - b))
      }),
    )
  })

  it('COMPACT-3.3: Yjs encodes, decodes and integrates items of such clients (V1 and V2)', () => {
    const doc = new Y.Doc()
    doc.clientID = epochClient('e', 'init')
    doc.getText('t').insert(0, 'abc')
    doc.getText('t').delete(1, 1)
    for (const [encode, apply] of [
      [Y.encodeStateAsUpdate, Y.applyUpdate],
      [Y.encodeStateAsUpdateV2, Y.applyUpdateV2],
    ] as const) {
      const copy = new Y.Doc()
      apply(copy, encode(doc))
      expect(copy.getText('t').toString()).toBe('ac')
      expect(Y.encodeStateVector(copy)).toEqual(Y.encodeStateVector(doc))
    }
  })
})

describe('epoch records (COMPACT-3.2)', () => {
  it('COMPACT-3.2: startEpoch builds a verifiable record; the same state gives the same id', () => {
    const { record, doc } = startEpoch(sample())
    expect(record.parent).toBe(INITIAL_EPOCH)
    expect(record.seq).toBe(1)
    expect(record.id).toMatch(/^1-[0-9a-f]{16}$/)
    expect(verifyEpochRecord(record)).toBe(true)
    expect(startEpoch(sample()).record.id).toBe(record.id)
    expect(doc.clientID).toBeLessThan(2 ** 32) // the deterministic writer never writes again
    expect(doc.getText('t').toDelta()).toEqual(sample().getText('t').toDelta())
    const child = startEpoch(doc, record)
    expect(child.record).toMatchObject({ parent: record.id, seq: 2 })
    expect(verifyEpochRecord(child.record)).toBe(true)
  })

  it('COMPACT-3.2: provenance covers content and formatting marks of the fresh document', () => {
    const { record } = startEpoch(sample())
    const fresh = new Y.Doc()
    Y.applyUpdateV2(fresh, record.initial)
    const items = [...fresh.store.clients.values()].flat().filter((s): s is Y.Item => s instanceof Y.Item)
    const covered = (clock: number): boolean =>
      record.provenance.some((r) => r.newClock <= clock && clock < r.newClock + r.length)
    for (const item of items)
      for (let k = 0; k < item.length; k++) expect(covered(item.id.clock + k)).toBe(true)
  })

  it('COMPACT-3.2: encodes and decodes; a tampered or truncated record is refused', () => {
    const { record } = startEpoch(sample())
    const bytes = encodeEpochRecord(record)
    expect(decodeEpochRecord(bytes)).toEqual({ ok: true, record })
    const tampered = decodeEpochRecord(encodeEpochRecord({ ...record, initial: record.initial.slice(1) }))
    expect(tampered).toEqual({ ok: false, reason: 'bad-id' })
    expect(decodeEpochRecord(bytes.slice(0, bytes.length - 3))).toEqual({ ok: false, reason: 'malformed' })
    expect(decodeEpochRecord(Uint8Array.of(9))).toEqual({ ok: false, reason: 'unknown-version' })
    expect(decodeEpochRecord(new Uint8Array())).toEqual({ ok: false, reason: 'malformed' })
  })
})

describe('chooseEpoch (COMPACT-4.1)', () => {
  const e = (seq: number, h: string): string => `${seq}-${h.padEnd(16, '0')}`

  it('COMPACT-4.1: the higher seq wins, then the smaller id; the initial epoch loses to any other', () => {
    expect(chooseEpoch(e(2, 'f'), e(1, '0'))).toBe(e(2, 'f'))
    expect(chooseEpoch(e(1, '0'), e(2, 'f'))).toBe(e(2, 'f'))
    expect(chooseEpoch(e(3, 'b'), e(3, 'a'))).toBe(e(3, 'a'))
    expect(chooseEpoch(INITIAL_EPOCH, e(1, 'f'))).toBe(e(1, 'f'))
    expect(chooseEpoch(e(10, '0'), e(9, '0'))).toBe(e(10, '0')) // numeric, not string, order of seq
    expect(compareEpochs(e(4, 'c'), e(4, 'c'))).toBe(0)
  })

  it('COMPACT-4.1: a total order: every peer picks the same winner of any set, in any order', () => {
    const id = fc
      .tuple(fc.nat({ max: 5 }), fc.stringMatching(/^[0-9a-f]{16}$/))
      .map(([s, h]) => (s === 0 ? INITIAL_EPOCH : `${s}-${h}`))
    fc.assert(
      fc.property(fc.array(id, { minLength: 1, maxLength: 8 }), fc.nat(), (ids, rot) => {
        const shuffled = [...ids.slice(rot % ids.length), ...ids.slice(0, rot % ids.length)].reverse()
        expect(shuffled.reduce(chooseEpoch)).toBe(ids.reduce(chooseEpoch))
        const winner = ids.reduce(chooseEpoch)
        for (const other of ids) expect(compareEpochs(winner, other)).toBeLessThanOrEqual(0)
      }),
    )
  })

  it('epochSeq: parses ids and throws invalid-argument on malformed ones', () => {
    expect(epochSeq('0')).toBe(0)
    expect(epochSeq(e(12, 'a'))).toBe(12)
    for (const bad of ['', '1', '0-0123456789abcdef', '01-0123456789abcdef', '1-XYZ', '-1']) {
      expect(() => epochSeq(bad)).toThrow(WeftError)
    }
  })
})
