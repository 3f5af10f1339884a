import 'fake-indexeddb/auto'
import { runPendingCrashSuite } from '@weft/core/testing'
import { IndexedDbDocStore } from '../../src/indexeddb/index.js'

let n = 0
const names = new WeakMap<IndexedDbDocStore, string>()
const open = (name: string): IndexedDbDocStore => {
  const store = new IndexedDbDocStore({ name })
  names.set(store, name)
  return store
}

// STORE-9.3 under fake-indexeddb: after each simulated crash the database is closed and opened again by name.
runPendingCrashSuite('IndexedDbDocStore (fake-indexeddb)', {
  create: () => Promise.resolve(open(`pending-crash-${n++}`)),
  reopen: async (store) => {
    await store.close()
    return open(names.get(store as IndexedDbDocStore) ?? '')
  },
  another: (store) => Promise.resolve(open(names.get(store as IndexedDbDocStore) ?? '')),
})
