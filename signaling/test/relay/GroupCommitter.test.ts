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
  it('RELAY-3.3: updates within one window become one append per document', async () => {
    const store = new FlakyStore(0)
    const c = new GroupCommitter(store, 20, metrics(), pino({ level: 'silent' }))
    const a = target('a')
    const b = target('b')
    const us = updates(10)
    const done = us.map((u, i) => c.add(i % 2 ? a : b, u))
    await Promise.all(done)
    expect(store.calls).toBe(2)
    expect(a.log).toEqual([1])
    expect(b.log).toEqual([1])
    const loaded = await store.load(docId('a'))
    expect(loaded?.updates.length).toBe(1)
    await store.close()
  })

  it('RELAY-3.3: a window holding more than 256 KiB is stored one update at a time, in order, not merged', async () => {
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
    expect(store.calls).toBe(3)
    const check = new Y.Doc()
    for (const u of (await store.load(docId('x')))?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('xx')
    await store.close()
  })

  it('RELAY-3.3, SCALE-1.5: a slow write of one document holds back neither the next windows of the others nor its own order', async () => {
    // A store whose appends of document `slow` wait until released: a 28 MB update, a row locked in PostgreSQL.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const order: string[] = []
    class SlowStore extends FlakyStore {
      override async append(id: DocId, update: Uint8Array): Promise<number> {
        if (id === 'slow') await held
        const clock = await super.append(id, update)
        order.push(`${id}@${clock}`)
        return clock
      }
    }
    const store = new SlowStore(0)
    const c = new GroupCommitter(store, 1, metrics(), pino({ level: 'silent' }))
    const [slow, fast] = [target('slow'), target('fast')]
    const us = updates(5)
    const slowFirst = c.add(slow, us[0] as Uint8Array)
    await c.add(fast, us[1] as Uint8Array)
    // Later windows of `fast` while `slow` is still being written; `slow`'s next update waits for its first.
    const slowSecond = c.add(slow, us[2] as Uint8Array)
    await c.add(fast, us[3] as Uint8Array)
    await c.add(fast, us[4] as Uint8Array)
    expect(order).toEqual(['fast@1', 'fast@2', 'fast@3'])
    release()
    await Promise.all([slowFirst, slowSecond])
    expect(order.slice(3)).toEqual(['slow@1', 'slow@2'])
    expect(slow.log).toEqual([1, 2])
    await store.close()
  })

  it('RELAY-3.5: a store outage is logged once when writes begin to fail and once when one succeeds, not per retry', async () => {
    const store = new FlakyStore(6)
    const lines: Array<Record<string, unknown>> = []
    const logger = pino(
      { level: 'info' },
      { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    )
    const c = new GroupCommitter(store, 1, metrics(), logger)
    const [a, b] = [target('a'), target('b')]
    const us = updates(2)
    // Two documents, each failing three times (retried every 500 ms), then written.
    await Promise.all([c.add(a, us[0] as Uint8Array), c.add(b, us[1] as Uint8Array)])
    expect(store.calls).toBe(8)
    expect(lines.map((l) => [l['level'], l['msg']])).toEqual([
      [50, 'store write failed; retrying quietly until a write succeeds'],
      [30, 'store writes succeed again'],
    ])
    expect(lines[1]?.['failedWrites']).toBe(6)
    await store.close()
  }, 10_000)

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
