import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import {
  AwarenessUpdateReader,
  encodeAwarenessEntries,
  readEncodedAwarenessEntries,
} from '../../src/protocol/index.js'

const utf8 = new TextEncoder()
const update = (entries: ReadonlyArray<readonly [number, number, string]>): Uint8Array =>
  encodeAwarenessEntries(
    entries.map(([clientID, clock, json]) => ({ clientID, clock, state: utf8.encode(json) })),
  )

const readAll = (reader: AwarenessUpdateReader, bytes: Uint8Array) => {
  reader.reset(bytes)
  const out: Array<[number, number, boolean]> = []
  while (reader.next()) out.push([reader.clientID, reader.clock, reader.removed()])
  return out
}

describe('AwarenessUpdateReader (SYNC-6.1, RELAY-6.4)', () => {
  it('RELAY-6.4: reads client ids, clocks and removals without taking any state out; reusable', () => {
    const reader = new AwarenessUpdateReader()
    const a = update([
      [1, 3, '{"x":1}'],
      [2 ** 40, 2 ** 33, 'null'],
    ])
    expect(readAll(reader, a)).toEqual([
      [1, 3, false],
      [2 ** 40, 2 ** 33, true],
    ])
    expect(reader.count).toBe(2)
    expect(readAll(reader, update([[9, 1, 'nul']]))).toEqual([[9, 1, false]])
    expect(reader.statesRead).toBe(0)
    reader.reset(a)
    reader.next()
    expect(new TextDecoder().decode(reader.state())).toBe('{"x":1}')
    expect(reader.statesRead).toBe(1)
  })

  it('SYNC-6.1: gives the same entries as readEncodedAwarenessEntries', () => {
    const bytes = update([
      [5, 1, '{"a":[1,2]}'],
      [6, 0, '{}'],
      [5, 2, 'null'],
    ])
    const reader = new AwarenessUpdateReader()
    reader.reset(bytes)
    const entries = []
    while (reader.next()) entries.push(reader.entry())
    expect(entries).toEqual(readEncodedAwarenessEntries(bytes))
  })

  it('SYNC-6.1: every truncation of a valid update, and a count or length that does not fit, is malformed', () => {
    const bytes = update([
      [300, 70_000, '{"name":"Ada"}'],
      [2, 1, 'null'],
    ])
    const reader = new AwarenessUpdateReader()
    for (let end = 0; end < bytes.length; end++) {
      expect(() => readAll(reader, bytes.subarray(0, end)), `cut at ${end}`).toThrow(
        /malformed awareness update/,
      )
    }
    const tooMany = encoding.createEncoder()
    encoding.writeVarUint(tooMany, 1000)
    expect(() => readAll(reader, encoding.toUint8Array(tooMany))).toThrow(/claims 1000 entries/)
    const longState = encoding.createEncoder()
    for (const n of [1, 1, 1, 50]) encoding.writeVarUint(longState, n)
    expect(() => readAll(reader, encoding.toUint8Array(longState))).toThrow(/runs past the end/)
    // A varUint with more bits than a double holds exactly.
    const huge = new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0])
    expect(() => readAll(reader, huge)).toThrow(/out of range/)
    // The reader is usable again after a failure.
    expect(readAll(reader, update([[1, 1, '{}']]))).toEqual([[1, 1, false]])
  })
})
