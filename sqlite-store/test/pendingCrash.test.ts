import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { runPendingCrashSuite } from '@weft/core/testing'
import { SqliteDocStore } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const paths = new WeakMap<SqliteDocStore, string>()
const open = (path: string): SqliteDocStore => {
  const store = new SqliteDocStore({ path })
  paths.set(store, path)
  return store
}

// STORE-9.3 over a file: after each simulated crash the file is closed and opened again by a new store.
runPendingCrashSuite('SqliteDocStore', {
  create: () => Promise.resolve(open(join(dir, `crash-${n++}.db`))),
  reopen: async (store) => {
    await store.close()
    return open(paths.get(store as SqliteDocStore) ?? '')
  },
  another: (store) => Promise.resolve(open(paths.get(store as SqliteDocStore) ?? '')),
})
