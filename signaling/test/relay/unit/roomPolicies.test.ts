import { describe, expect, it } from 'vitest'
import { defaultCompactionPolicy, type StoredDoc } from '@weft/core'
import {
  collectBeforeAnswer,
  compactionDue,
  GC_META_KEY,
  loadCollection,
  type CompactionRules,
} from '../../../src/relay/RelayCompaction.js'
import { epochStartDecision } from '../../../src/relay/RelayEpochs.js'
import type { RoomCounters } from '../../../src/relay/RelayRoom.js'

const KIB = 1024
const rules: CompactionRules = {
  policy: defaultCompactionPolicy,
  insertOnly: { ...defaultCompactionPolicy, maxUpdateBytes: Infinity },
  workerMinBytes: 128 * KIB,
}
const room = (counters: Partial<RoomCounters> = {}): RoomCounters => ({
  tailCount: 0,
  tailBytes: 0,
  snapshotBytes: 0,
  deletedSinceGc: 0,
  baseline: 0,
  ...counters,
})
const stored = (byteLength: number, meta: Record<string, string> = {}): StoredDoc => ({
  snapshot: null,
  updates: [],
  clock: 1,
  meta,
  byteLength,
})

describe('the room policies (pure functions of its counters)', () => {
  it('RELAY-3.4: a tail past the count threshold is due; with deleted content the byte threshold counts too', () => {
    expect(compactionDue(room({ tailCount: 499, tailBytes: 10 }), 10, rules)).toBe(false)
    expect(compactionDue(room({ tailCount: 500, tailBytes: 10 }), 10, rules)).toBe(true)
    const bigTail = { tailCount: 3, tailBytes: 2 * KIB * KIB }
    expect(compactionDue(room({ ...bigTail, deletedSinceGc: 1 }), 10, rules)).toBe(true)
    // Insert-only: a rebuild would drop nothing, so bytes alone never make it due.
    expect(compactionDue(room(bigTail), 10, rules)).toBe(false)
  })

  it('RELAY-3.6: a state that grew fourfold (and by 64 KiB) since its last rebuild is due when it may hold deleted content', () => {
    const grown = { baseline: 100 * KIB, deletedSinceGc: 1 }
    expect(compactionDue(room(grown), 400 * KIB, rules)).toBe(true)
    expect(compactionDue(room(grown), 399 * KIB, rules)).toBe(false)
    expect(compactionDue(room({ ...grown, deletedSinceGc: 0 }), 400 * KIB, rules)).toBe(false)
    expect(compactionDue(room({ baseline: 1 * KIB, deletedSinceGc: 1 }), 60 * KIB, rules)).toBe(false)
  })

  it('RELAY-3.7: a joiner waits for a rebuild of a state of at most 1 MiB that grew by 10% and may hold deleted content', () => {
    const r = room({ baseline: 100 * KIB, deletedSinceGc: 5 })
    expect(collectBeforeAnswer(r, 111 * KIB)).toBe(true)
    expect(collectBeforeAnswer(r, 109 * KIB)).toBe(false)
    expect(collectBeforeAnswer(room({ baseline: 100 * KIB }), 200 * KIB)).toBe(false)
    expect(collectBeforeAnswer(room({ baseline: 0, deletedSinceGc: 1 }), 1024 * KIB + 1)).toBe(false)
  })

  it('RELAY-3.6, RELAY-3.8: at load a large stored document is rebuilt here, or compacted in the worker when its state is large', () => {
    expect(loadCollection(null, room(), 0, rules.workerMinBytes)).toBe('keep')
    expect(loadCollection(stored(63 * KIB), room(), 63 * KIB, rules.workerMinBytes)).toBe('keep')
    expect(loadCollection(stored(64 * KIB), room(), 64 * KIB, rules.workerMinBytes)).toBe('try')
    expect(loadCollection(stored(200 * KIB), room(), 200 * KIB, rules.workerMinBytes)).toBe('compact')
    // Collected before and its tail is smaller than its snapshot: nothing to gain.
    const collected = stored(200 * KIB, { [GC_META_KEY]: '3' })
    expect(
      loadCollection(collected, room({ tailBytes: 1, snapshotBytes: 2 }), 200 * KIB, rules.workerMinBytes),
    ).toBe('keep')
    expect(
      loadCollection(collected, room({ tailBytes: 3, snapshotBytes: 2 }), 200 * KIB, rules.workerMinBytes),
    ).toBe('compact')
  })

  it('RELAY-EPOCH-5: the epoch-start policy is checked at most once per interval, never with a switch queued, and starts only when it says so', () => {
    const auto = { minIntervalMs: 1000, minDeletedItems: 10, deletedPerLive: 1 }
    const many = { liveItems: 5, deletedItems: 100 }
    const idle = { tasks: 0, lastAutoCheck: -Infinity }
    expect(epochStartDecision(auto, idle, many, 5000)).toBe('start')
    expect(epochStartDecision(auto, { tasks: 1, lastAutoCheck: -Infinity }, many, 5000)).toBe('skip')
    expect(epochStartDecision(auto, { tasks: 0, lastAutoCheck: 4500 }, many, 5000)).toBe('skip')
    expect(epochStartDecision(auto, idle, { liveItems: 5, deletedItems: 3 }, 5000)).toBe('checked')
    expect(epochStartDecision(auto, idle, { liveItems: 0, deletedItems: 100 }, 5000)).toBe('checked')
  })
})
