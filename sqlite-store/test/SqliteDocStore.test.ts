import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { docId, WeftError } from '@weft/core'
import { runDocStoreContract } from '@weft/core/testing'
import { SqliteDocStore } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const freshPath = (): string => join(dir, `store-${n++}.db`)
const paths = new WeakMap<SqliteDocStore, string>()
const open = (path: string): SqliteDocStore => {
  const store = new SqliteDocStore({ path })
  paths.set(store, path)
  return store
}

runDocStoreContract('SqliteDocStore', () => open(freshPath()), {
  workspaceIndex: true,
  reopen: async (store) => {
    await store.close()
    return open(paths.get(store as SqliteDocStore) ?? '')
  },
})
runDocStoreContract(
  'SqliteDocStore (:memory:, durability normal)',
  () => new SqliteDocStore({ path: ':memory:', durability: 'normal' }),
  { workspaceIndex: true },
)

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const A = docId('a')

const rejection = async (p: Promise<unknown>): Promise<WeftError> => {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(WeftError)
  return err as WeftError
}

describe('SqliteDocStore', () => {
  it('STORE-2.4: appends of one tick share one transaction, and resolve after it', async () => {
    const store = open(freshPath())
    const clocks = await Promise.all(Array.from({ length: 500 }, (_, i) => store.append(A, bytes(i & 0xff))))
    expect(store.appendCommits).toBe(1)
    expect(clocks).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
    await store.append(A, bytes(1))
    expect(store.appendCommits).toBe(2)
    await store.close()
  })

  it('STORE-2.4, STORE-4.4: a failed commit rejects every append and meta entry in it with store-failed', async () => {
    const path = freshPath()
    const store = new SqliteDocStore({ path, busyTimeoutMs: 0 })
    await store.append(A, bytes(0))
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE') // hold the write lock
    const batch = [store.append(A, bytes(1)), store.setMeta(A, 'k', 'v'), store.append(A, bytes(2))]
    const errors = await Promise.all(batch.map(rejection))
    expect(errors.map((e) => e.code)).toEqual(['store-failed', 'store-failed', 'store-failed'])
    other.exec('ROLLBACK')
    other.close()
    expect(await store.append(A, bytes(3))).toBe(2)
    await store.setMeta(A, 'k', 'w')
    const loaded = await store.load(A)
    expect(loaded?.updates.map((u) => [...u])).toEqual([[0], [3]])
    expect(loaded?.meta.k).toBe('w')
    await store.close()
  })

  it("STORE-4.4: meta entries of one tick share the appends' transaction (one fsync), in call order", async () => {
    const path = freshPath()
    const store = open(path)
    await store.append(A, bytes(0))
    const walFrames = (): number => {
      const wal = readFileSync(`${path}-wal`)
      return (wal.byteLength - 32) / (wal.readUInt32BE(8) + 24)
    }
    const frames = walFrames()
    const commits = store.appendCommits
    // A workspace's bookkeeping: many small entries written in one tick.
    const writes = Array.from({ length: 50 }, (_, i) => store.setMeta(docId('w/~local'), `l:doc-${i}`, '1'))
    writes.push(store.append(A, bytes(1), { meta: { k: 'append' } }).then(() => undefined))
    writes.push(store.setMeta(A, 'k', 'meta after the append'))
    await Promise.all(writes)
    expect(store.appendCommits).toBe(commits + 1)
    // One transaction writes each page it touched once; 52 transactions wrote 52 frames and more.
    expect(walFrames() - frames).toBeLessThan(10)
    expect((await store.load(A))?.meta.k).toBe('meta after the append')
    expect(Object.keys((await store.load(docId('w/~local')))?.meta ?? {})).toHaveLength(50)
    // An append queued after an entry is written after it; a read commits what is queued first.
    void store.setMeta(A, 'k', 'meta before the append')
    const appended = store.append(A, bytes(2), { meta: { k: 'append last' } })
    expect((await store.load(A))?.meta.k).toBe('append last')
    expect(await appended).toBe(3)
    // An epoch set by an entry checks the appends queued after it in the same commit (STORE-2.5).
    void store.setMeta(A, 'epoch', 'e2')
    const refused = store.append(A, bytes(3), { epoch: '0' })
    const taken = store.append(A, bytes(4), { epoch: 'e2' })
    expect((await rejection(refused)).code).toBe('epoch-mismatch')
    expect(await taken).toBe(4)
    await store.close()
  })

  it('STORE-2.2: two connections to one file hand out distinct, increasing clocks', async () => {
    const path = freshPath()
    const one = open(path)
    const two = open(path)
    const clocks: number[] = []
    for (let i = 0; i < 10; i++) clocks.push(await (i % 2 ? one : two).append(A, bytes(i)))
    expect(clocks).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect((await one.load(A))?.updates.map((u) => u[0])).toEqual(Array.from({ length: 10 }, (_, i) => i))
    await one.close()
    await two.close()
  })

  it('STORE-2.5, STORE-3.7: two connections to one file: the epoch switch of one is checked against the other', async () => {
    const path = freshPath()
    const [one, two] = [open(path), open(path)]
    await one.append(A, bytes(1), { epoch: '0' })
    const loaded = await one.load(A)
    // The other connection appends after `one` loaded: `one`'s exact compaction (an epoch switch) is stale.
    await two.append(A, bytes(2), { epoch: '0' })
    const switchTo = { exact: true, epoch: '0', meta: { epoch: 'e1' } }
    expect(await one.compact(A, bytes(9), loaded?.clock ?? 0, switchTo)).toEqual({
      ok: false,
      reason: 'stale',
    })
    const reloaded = await one.load(A)
    expect(await one.compact(A, bytes(9), reloaded?.clock ?? 0, switchTo)).toEqual({ ok: true })
    // `two` still believes in epoch "0": refused, nothing written.
    expect((await rejection(two.append(A, bytes(3), { epoch: '0' }))).code).toBe('epoch-mismatch')
    const after = await two.load(A)
    expect(after?.updates).toEqual([])
    expect(after?.meta).toEqual({ epoch: 'e1' })
    expect(await two.append(A, bytes(4), { epoch: 'e1' })).toBe((reloaded?.clock ?? 0) + 1)
    await one.close()
    await two.close()
  })

  it('STORE-6.2: a row that is not a BLOB rejects load with store-corrupted', async () => {
    const path = freshPath()
    const store = open(path)
    await store.append(A, bytes(1))
    await store.append(A, bytes(2))
    const raw = new Database(path)
    raw.prepare("UPDATE weft_updates SET data = 'garbage' WHERE clock = 2").run()
    raw.close()
    expect((await rejection(store.load(A))).code).toBe('store-corrupted')
    // Other documents and writes still work.
    expect(await store.append(docId('b'), bytes(1))).toBe(1)
    await store.close()
  })

  it('STORE-6.2: a file that is not a database reports store-corrupted, without throwing', async () => {
    const path = freshPath()
    writeFileSync(path, Buffer.alloc(8192, 0x5a))
    const store = new SqliteDocStore({ path })
    expect((await rejection(store.load(A))).code).toBe('store-corrupted')
    expect((await rejection(store.append(A, bytes(1)))).code).toBe('store-corrupted')
    await store.close()
    expect((await rejection(store.list())).code).toBe('destroyed')
  })

  it('STORE-6.3: an exclusive store refuses a second exclusive store on its path until it closes; others still open', async () => {
    const path = freshPath()
    const first = new SqliteDocStore({ path, exclusive: true })
    await first.ready()
    await first.append(A, bytes(1))
    const second = new SqliteDocStore({ path, exclusive: true })
    const refused = await rejection(second.ready())
    expect(refused.code).toBe('store-failed')
    expect(refused.message).toMatch(/in use/)
    expect((await rejection(second.load(A))).code).toBe('store-failed')
    await second.close()
    const reader = new SqliteDocStore({ path })
    expect((await reader.load(A))?.updates).toHaveLength(1)
    await reader.close()
    await first.close()
    const third = new SqliteDocStore({ path, exclusive: true })
    await third.ready()
    await third.close()
  })

  it('uses WAL and the chosen synchronous level', () => {
    const path = freshPath()
    const full = open(path)
    const raw = new Database(path)
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal')
    raw.close()
    return full.close()
  })
})
