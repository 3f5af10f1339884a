import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { docId } from '@weft/core'
import { SqliteDocStore } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-ws-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const freshPath = (): string => join(dir, `store-${n++}.db`)
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

/** Written by SqliteDocStore before the workspace index existed (commit 415ac33): see the test below for its content. */
const FIXTURE = fileURLToPath(new URL('./fixtures/pre-workspace-index.db', import.meta.url))

describe('SqliteDocStore workspace index', () => {
  it('WS-STORE-5.1: a file written before the index existed opens, and its documents are indexed once', async () => {
    const path = freshPath()
    copyFileSync(FIXTURE, path)
    const store = new SqliteDocStore({ path })
    // acme/a: two updates (3 bytes); acme/b: a snapshot (3 bytes) and one update; acme/c: metadata only (not
    // indexed); plain: no workspace; beta/x/y: one update of 2 bytes. Seqs 1..k per workspace in id order.
    expect(await store.workspaces()).toEqual([
      { id: 'acme', documents: 2, seq: 2, bytes: 7 },
      { id: 'beta', documents: 1, seq: 1, bytes: 2 },
    ])
    expect(await store.changesSince('acme', 0, 10)).toEqual({
      changes: [
        { doc: 'a', seq: 1 },
        { doc: 'b', seq: 2 },
      ],
      through: 2,
      more: false,
    })
    expect(await store.changesSince('beta', 0, 10)).toEqual({
      changes: [{ doc: 'x/y', seq: 1 }],
      through: 1,
      more: false,
    })
    // The data itself is untouched.
    const b = await store.load(docId('acme/b'))
    expect([...(b?.snapshot ?? [])]).toEqual([4, 4, 4])
    expect(b?.updates.map((u) => [...u])).toEqual([[5]])
    expect(b?.meta).toEqual({ epoch: 'e1' })
    expect((await store.load(docId('acme/c')))?.meta).toEqual({ k: 'v' })
    expect((await store.list()).sort()).toEqual(['acme/a', 'acme/b', 'acme/c', 'beta/x/y', 'plain'])
    await store.append(docId('acme/c'), bytes(8))
    await store.close()
    // Reopened: not indexed again; the sequence goes on.
    const again = new SqliteDocStore({ path })
    expect(await again.workspaceSeq('acme')).toBe(3)
    await again.append(docId('acme/a'), bytes(9))
    expect((await again.changesSince('acme', 2, 10)).changes).toEqual([
      { doc: 'c', seq: 3 },
      { doc: 'a', seq: 4 },
    ])
    await again.close()
  })

  it('WS-STORE-2.3: a group commit of many appends to one document advances its workspace once', async () => {
    const store = new SqliteDocStore({ path: freshPath() })
    const A = docId('acme/a')
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append(A, bytes(i))))
    expect(store.appendCommits).toBe(1)
    expect(await store.workspaceSeq('acme')).toBe(1)
    await Promise.all([store.append(A, bytes(1)), store.append(docId('acme/b'), bytes(2))])
    expect(await store.changesSince('acme', 1, 10)).toEqual({
      changes: [
        { doc: 'a', seq: 2 },
        { doc: 'b', seq: 3 },
      ],
      through: 3,
      more: false,
    })
    await store.close()
  })

  it('WS-STORE-2.4: two stores sharing one file append to one workspace at once: the seqs are exactly 1..n', async () => {
    const path = freshPath()
    const one = new SqliteDocStore({ path })
    const two = new SqliteDocStore({ path })
    const writes: Promise<number>[] = []
    for (let i = 0; i < 60; i++) {
      writes.push((i % 2 ? one : two).append(docId(`acme/d${i}`), bytes(i)))
      // Several commits per store, interleaved with the other's.
      if (i % 7 === 6) await Promise.all(writes)
    }
    await Promise.all(writes)
    const changes = (await one.changesSince('acme', 0, 1000)).changes
    expect(changes.map((c) => c.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
    expect(new Set(changes.map((c) => c.doc)).size).toBe(60)
    expect(await two.workspaceSeq('acme')).toBe(60)
    await one.close()
    await two.close()
  })
})
