import * as Y from 'yjs'
import { ObservableV2 } from 'lib0/observable'
import { describe, expect, it } from 'vitest'
import { BackgroundSync, type BriefSyncTimer } from '../../src/workspace/BackgroundSync.js'
import type { WeftDoc } from '../../src/WeftDoc.js'

// Issue #15, security review F2: brief syncs waited for `synced` for ever. Documents no peer holds (made-up ids, or an
// honest peer that left mid sync) took every slot, and the workspace's background sync stopped until a restart.

/** A document handle as a brief sync sees it: a status, its Y.Doc, and `flushed()`. */
class FakeDoc extends ObservableV2<{ status: () => void; 'connection-error': () => void }> {
  readonly doc = new Y.Doc()
  readonly handle = { flushed: async () => {} }
  constructor(public status: string) {
    super()
  }
  sync(): void {
    this.status = 'synced'
    this.emit('status', [])
  }
}

/** Timers fired by the test: each `set` is recorded with its delay. */
const manualTimer = () => {
  const timers = new Map<number, { fn: () => void; ms: number }>()
  let next = 0
  const timer: BriefSyncTimer = {
    set: (fn, ms) => {
      timers.set(++next, { fn, ms })
      return next
    },
    clear: (h) => void timers.delete(h as number),
  }
  /** Fires every timer set with delay `ms`; resolves with how many. */
  const fire = (ms: number): number => {
    const due = [...timers].filter(([, t]) => t.ms === ms)
    for (const [h, t] of due) {
      timers.delete(h)
      t.fn()
    }
    return due.length
  }
  return { timer, fire, delays: () => [...timers.values()].map((t) => t.ms).sort((a, b) => a - b) }
}

/** Lets the brief syncs' promise chains run (acquire, release, settle). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

const setup = (synced: (d: string) => boolean) => {
  const t = manualTimer()
  const docs = new Map<string, FakeDoc>()
  const settled: Array<[string, string]> = []
  const handled: number[] = []
  const released: string[] = []
  const sync = new BackgroundSync(
    {
      concurrency: 2,
      runnable: () => true,
      acquire: async (d) => {
        const doc = new FakeDoc(synced(d) ? 'synced' : 'connecting')
        docs.set(d, doc)
        return doc as unknown as WeftDoc
      },
      release: async (d) => void released.push(d),
      refused: () => false,
      sizeOf: () => 1,
      settled: (d, outcome, seqs) => {
        settled.push([d, outcome])
        handled.push(...seqs)
      },
      failed: (d, err) => {
        throw err
      },
      changed: () => {},
      progressed: () => {},
    },
    { stallMs: 30_000, retryMs: 1_000, maxRetryMs: 4_000, timer: t.timer },
  )
  return { sync, t, docs, settled, handled, released }
}

describe('brief syncs never hold a slot for ever (WS-PEER-7)', () => {
  it('WS-PEER-7: brief syncs of documents no peer answers for are given up after the stall time; the queued document gets their slot', async () => {
    const { sync, t, settled } = setup((d) => d === 'c')
    sync.enqueue('x')
    sync.enqueue('y')
    sync.enqueue('c')
    await turn()
    expect(settled).toEqual([]) // x and y hold both slots; c waits
    expect(t.fire(30_000)).toBe(2) // nothing happened to x or y for 30 s
    await turn()
    expect(settled).toEqual([
      ['x', 'aborted'],
      ['y', 'aborted'],
      ['c', 'synced'],
    ])
    expect(sync.has('x')).toBe(true) // waiting for its retry, not holding a slot
    expect(sync.busy).toBe(false)
    expect(t.delays()).toEqual([1_000, 1_000])
  })

  it('WS-PEER-7: a stalled document is retried with a doubling backoff (capped), and at once when it is queued again', async () => {
    const { sync, t, docs, settled } = setup(() => false)
    sync.enqueue('x')
    await turn()
    for (const backoff of [1_000, 2_000, 4_000, 4_000]) {
      expect(t.fire(30_000)).toBe(1)
      await turn()
      expect(t.delays()).toEqual([backoff])
      expect(t.fire(backoff)).toBe(1) // queued again, running again
      await turn()
    }
    // Progress resets the stall time: a change to the document arms it again.
    docs.get('x')!.doc.getText('t').insert(0, 'a')
    expect(t.delays()).toEqual([30_000])
    expect(t.fire(30_000)).toBe(1)
    await turn()
    expect(t.delays()).toEqual([4_000])
    // A peer that holds it came (queued again by the peer summary): it runs now, not after the backoff.
    sync.enqueue('x')
    await turn()
    expect(t.delays()).toEqual([30_000])
    docs.get('x')!.sync()
    await turn()
    expect(settled.at(-1)).toEqual(['x', 'synced'])
    expect(sync.has('x')).toBe(false)
  })
})

describe('a purge drops the brief syncs of its document (WS-PURGE-12)', () => {
  it('WS-PURGE-12: drop() aborts a running brief sync that never ends, resolves once it released the document, and it is not queued again', async () => {
    const { sync, t, settled, handled, released } = setup(() => false)
    sync.enqueue('x', 1)
    await turn()
    expect(sync.has('x')).toBe(true)
    sync.enqueue('x', 2) // named again while it runs (a peer summary, a link change): queued behind itself
    await sync.drop('x')
    expect(released).toEqual(['x'])
    expect(sync.has('x')).toBe(false)
    expect(sync.busy).toBe(false)
    expect(handled).toEqual([1, 2]) // nothing is left to sync: the change numbers are reported handled
    expect(settled).toEqual([['x', 'aborted']])
    expect(t.delays()).toEqual([]) // no stall timer, no backoff
    expect(sync.progress).toMatchObject({ docs: 1, docsDone: 1 })
    await turn()
    expect(released).toEqual(['x']) // not loaded again
  })

  it('WS-PURGE-12: drop() forgets a document queued or waiting for its backoff', async () => {
    const { sync, t, released, handled } = setup(() => false)
    sync.enqueue('x', 1)
    await turn()
    expect(t.fire(30_000)).toBe(1) // stalled: waits for its backoff
    await turn()
    expect(t.delays()).toEqual([1_000])
    await sync.drop('x')
    expect(t.delays()).toEqual([])
    expect(sync.has('x')).toBe(false)
    expect(handled).toEqual([1])
    await turn()
    expect(released).toEqual(['x'])
  })
})
