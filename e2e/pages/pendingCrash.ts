// Runs in Chromium on real IndexedDB: the STORE-9.3 crash scenario (a scripted client session over a store that
// stops persisting after its k-th write, for every k; the database is then closed and reopened by name) and reports
// { writes, runs, failures } on window.result.
import type { DocStore } from '@weft/core'
import { checkPendingCrash, type PendingCrashHarness } from '@weft/core/testing'
import { IndexedDbDocStore } from '@weft/providers/indexeddb'

const names = new WeakMap<IndexedDbDocStore, string>()
let n = 0
const open = (name: string): IndexedDbDocStore => {
  const store = new IndexedDbDocStore({ name })
  names.set(store, name)
  return store
}
const harness: PendingCrashHarness = {
  create: () => Promise.resolve(open(`e2e-pending-crash-${Date.now()}-${n++}`)),
  reopen: async (store: DocStore) => {
    await store.close()
    return open(names.get(store as IndexedDbDocStore) ?? '')
  },
}

const run = async () => {
  const first = await checkPendingCrash(harness, Infinity)
  const failures = [...first.failures]
  let runs = 1
  for (let k = 0; k <= first.writes; k++) {
    failures.push(...(await checkPendingCrash(harness, k)).failures)
    runs++
  }
  return { writes: first.writes, runs, failures }
}

run().then(
  (result) => ((window as unknown as { result: unknown }).result = result),
  (err: unknown) =>
    ((window as unknown as { result: unknown }).result = {
      error: err instanceof Error ? err.stack : String(err),
    }),
)
