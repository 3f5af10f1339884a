import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import * as Y from 'yjs'
import { docId, type DocId } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { GroupCommitter, type CommitTarget } from '../../src/relay/GroupCommitter.js'
import { ServerMetrics } from '../../src/metrics/ServerMetrics.js'

const metrics = () =>
  new ServerMetrics({ connections: () => [], topics: () => 0, docsLoaded: () => 0, relayRooms: () => 0 })
const target = (id: string, log: number[] = []): CommitTarget & { log: number[] } => ({
  docId: docId(id),
  log,
  onCommitted: (clock: number) => log.push(clock),
})
const updates = (n: number) => {
  const d = new Y.Doc()
  const out: Uint8Array[] = []
  d.on('update', (u: Uint8Array) => out.push(u))
  for (let i = 0; i < n; i++) d.getText('t').insert(0, 'x')
  return out
}

/** A store whose appends fail `failures` times first. */
class FlakyStore extends SqliteDocStore {
  failures: number
  calls = 0
  constructor(failures: number) {
    super({ path: ':memory:' })
    this.failures = failures
  }
  override append(id: DocId, update: Uint8Array): Promise<number> {
    this.calls++
    if (this.failures-- > 0) return Promise.reject(new Error('disk full'))
    return super.append(id, update)
  }
}

describe('GroupCommitter', () => {
  it('RELAY-3.3: updates within one window are appended one by one, unmerged, all issued in the same tick', async () => {
    const store = new FlakyStore(0)
    // The number of appends issued when each one resolves: all of them, when the window's appends go out together.
    const issuedAtResolve: number[] = []
    const append = store.append.bind(store)
    store.append = (id, update) =>
      append(id, update).then((clock) => {
        issuedAtResolve.push(store.calls)
        return clock
      })
    const c = new GroupCommitter(store, 20, metrics(), pino({ level: 'silent' }))
    const a = target('a')
    const b = target('b')
    const us = updates(10)
    const done = us.map((u, i) => c.add(i % 2 ? a : b, u))
    await Promise.all(done)
    expect(store.calls).toBe(10)
    expect(issuedAtResolve).toEqual(Array(10).fill(10))
    // One commit per document and window, reported with the clock of its last append.
    expect(a.log).toEqual([5])
    expect(b.log).toEqual([5])
    const loaded = await store.load(docId('a'))
    expect(loaded?.updates.map((u) => Array.from(u))).toEqual(
      us.filter((_, i) => i % 2).map((u) => Array.from(u)),
    )
    await store.close()
  })

  it('RELAY-3.3: a window of large updates is stored one update per append, in order, as they arrived', async () => {
    const store = new FlakyStore(0)
    const c = new GroupCommitter(store, 20, metrics(), pino({ level: 'silent' }))
    const appends: number[] = []
    const t: CommitTarget = { docId: docId('big'), onCommitted: (_clock, _bytes, n) => appends.push(n) }
    const d = new Y.Doc()
    const big: Uint8Array[] = []
    d.on('update', (u: Uint8Array) => big.push(u))
    for (let i = 0; i < 3; i++) d.getText('t').insert(0, String(i).repeat(100_000))
    await Promise.all(big.map((u) => c.add(t, u)))
    expect(store.calls).toBe(3)
    expect(appends).toEqual([3])
    const loaded = await store.load(docId('big'))
    expect(loaded?.updates.map((u) => u.byteLength)).toEqual(big.map((u) => u.byteLength))
    const copy = new Y.Doc()
    for (const u of loaded?.updates ?? []) Y.applyUpdate(copy, u)
    expect(copy.getText('t').toString()).toBe(d.getText('t').toString())
    await store.close()
  })

  it('RELAY-3.5: a failed write is retried and only then resolves', async () => {
    const store = new FlakyStore(2)
    const c = new GroupCommitter(store, 1, metrics(), pino({ level: 'silent' }))
    const t = target('x')
    const [u1, u2] = updates(2)
    const first = c.add(t, u1 as Uint8Array)
    let resolved = false
    void first.then(() => (resolved = true))
    const second = c.add(t, u2 as Uint8Array)
    expect(resolved).toBe(false)
    await Promise.all([first, second])
    // Both appends of the window failed once each (2 calls), then both were written (2 more), once.
    expect(store.calls).toBe(4)
    const stored = (await store.load(docId('x')))?.updates ?? []
    expect(stored).toHaveLength(2)
    const check = new Y.Doc()
    for (const u of stored) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('xx')
    await store.close()
  })

  it('RELAY-3.5: flush() writes everything queued now, whatever the window', async () => {
    const store = new FlakyStore(0)
    const c = new GroupCommitter(store, 60_000, metrics(), pino({ level: 'silent' }))
    const t = target('f')
    const p = c.add(t, updates(1)[0] as Uint8Array)
    await c.flush()
    await p
    expect(store.calls).toBe(1)
    c.stop()
    await store.close()
  })
})
