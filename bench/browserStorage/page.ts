// The page of the browser storage bench (bench/browserStorage.bench.ts), bundled with esbuild and driven by
// Playwright: Weft (`openDoc` + `IndexedDbDocStore`) and y-indexeddb on the same real IndexedDB, one Y.Doc each.
import * as Y from 'yjs'
import { IndexeddbPersistence } from 'y-indexeddb'
import { MemoryNetwork } from '@weft/core/testing'
import { openDoc } from '@weft/providers'
import { IndexedDbDocStore } from '@weft/providers/indexeddb'
import type { BenchApi, Mode, System, Workload } from './protocol.js'

type Patch = [number, number, string]

interface Handle {
  readonly doc: Y.Doc
  /** Resolves once every write issued so far is committed. */
  drain(): Promise<void>
  close(): Promise<void>
}

const txDone = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'))
  })

const rawDb = (name: string): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error ?? new Error('open'))
  })

const openSystem = async (
  system: System,
  name: string,
  durability: 'strict' | 'relaxed',
): Promise<Handle> => {
  if (system === 'weft') {
    const store = new IndexedDbDocStore({ name, durability })
    // A relay is configured (offline here), as in an app: the pending-change count is stored with each change.
    const relay = new MemoryNetwork().transport('relay')
    const d = await openDoc({ docId: 'bench', store, relay, connect: false })
    // After `flushed()`, a readonly transaction from another connection: it starts only once every readwrite
    // transaction created before it finished, also writes that `flushed()` does not cover (metadata).
    const raw = await rawDb(name)
    return {
      doc: d.doc,
      drain: async () => {
        await d.persistence?.flushed()
        await txDone(raw.transaction(['updates', 'meta'], 'readonly'))
      },
      close: async () => {
        await d.destroy()
        await store.close()
        raw.close()
      },
    }
  }
  const doc = new Y.Doc()
  const p = new IndexeddbPersistence(name, doc)
  await p.whenSynced
  return {
    doc,
    // A readonly transaction on `updates` starts only after every readwrite one created before it finished.
    drain: () => txDone(p.db!.transaction(['updates'], 'readonly')),
    close: () => p.destroy(),
  }
}

let trace: Patch[][] | null = null
const loadTrace = async (): Promise<Patch[][]> =>
  (trace ??= ((await (await fetch('/trace.json')).json()) as { txns: Patch[][] }).txns)

/** Transaction `i` of the workload, applied to `doc` as one Yjs transaction. */
const editor = async (
  workload: Workload,
): Promise<{ count: number; edit: (doc: Y.Doc, i: number) => void }> => {
  if (workload.kind === 'text') {
    const txns = await loadTrace()
    return {
      count: txns.length,
      edit: (doc, i) => {
        const text = doc.getText('text')
        doc.transact(() => {
          for (const [pos, del, ins] of txns[i] ?? []) {
            if (del > 0) text.delete(pos, del)
            if (ins) text.insert(pos, ins)
          }
        })
      },
    }
  }
  const { keys, rounds } = workload
  return {
    count: keys * rounds,
    edit: (doc, i) => {
      const shapes = doc.getMap<Y.Map<number | string>>('shapes')
      const key = `shape-${i % keys}`
      const round = Math.floor(i / keys)
      doc.transact(() => {
        if (round === 0) {
          const shape = new Y.Map<number | string>()
          shapes.set(key, shape)
          shape.set('kind', 'rect')
        }
        const shape = shapes.get(key)
        shape?.set('x', (round * 7 + i) % 1920)
        shape?.set('y', (round * 13 + i) % 1080)
      })
    },
  }
}

/** A new task (not a microtask, and not setTimeout's 4 ms clamp). */
const nextTask = (): Promise<void> =>
  new Promise((resolve) => {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => resolve()
    channel.port2.postMessage(0)
  })

/** A document's content, to check that what was stored opens to what was written. */
const contentSize = (doc: Y.Doc, workload: Workload): number =>
  workload.kind === 'text' ? doc.getText('text').length : doc.getMap('shapes').size

/** Bytes of the stored values (updates, snapshots), read without opening the system (which may write). */
const storedBytes = async (name: string): Promise<{ bytes: number; rows: number }> => {
  const db = await rawDb(name)
  let bytes = 0
  let rows = 0
  const stores = [...db.objectStoreNames].filter((s) => s === 'updates' || s === 'snapshots')
  const tx = db.transaction(stores, 'readonly')
  for (const s of stores) {
    const req = tx.objectStore(s).getAll()
    req.onsuccess = () => {
      for (const v of req.result as unknown[]) {
        rows++
        if (v instanceof Uint8Array) bytes += v.byteLength
        else if (typeof v === 'object' && v !== null && 'data' in v && v.data instanceof Uint8Array)
          bytes += v.data.byteLength
      }
    }
  }
  await txDone(tx)
  db.close()
  return { bytes, rows }
}

const api: BenchApi = {
  async write(system: System, name: string, workload: Workload, mode: Mode, durability) {
    const { count, edit } = await editor(workload)
    const h = await openSystem(system, name, durability)
    const started = performance.now()
    if (mode === 'typing') {
      for (let i = 0; i < count; i++) {
        edit(h.doc, i)
        await nextTask()
        if (i % 100 === 99) await h.drain()
      }
    } else {
      for (let i = 0; i < count; i++) edit(h.doc, i)
    }
    const issuedMs = performance.now() - started
    await h.drain()
    const ms = performance.now() - started
    const size = contentSize(h.doc, workload)
    await h.close()
    return { ms, issuedMs, transactions: count, contentSize: size }
  },

  async open(system: System, name: string, workload: Workload) {
    const before = await storedBytes(name)
    const started = performance.now()
    const h = await openSystem(system, name, 'strict')
    const ms = performance.now() - started
    const size = contentSize(h.doc, workload)
    await h.drain()
    await h.close()
    const after = await storedBytes(name)
    return { ms, contentSize: size, grewBytes: after.bytes - before.bytes }
  },

  storedBytes,

  async epochAndFresh(name: string, freshName: string) {
    const store = new IndexedDbDocStore({ name })
    const d = await openDoc({ docId: 'bench', store })
    const started = performance.now()
    await d.epochs?.start()
    await d.persistence?.flushed()
    const startMs = performance.now() - started
    const fresh = new Y.Doc()
    const target = fresh.getMap<Y.Map<number | string>>('shapes')
    fresh.transact(() => {
      d.doc.getMap<Y.Map<number | string>>('shapes').forEach((shape, key) => {
        const copy = new Y.Map<number | string>()
        target.set(key, copy)
        shape.forEach((value, field) => copy.set(field, value))
      })
    })
    await d.destroy()
    await store.close()
    const freshStore = new IndexedDbDocStore({ name: freshName })
    const f = await openDoc({ docId: 'bench', store: freshStore, doc: fresh })
    await f.persistence?.flushed()
    await f.destroy()
    await freshStore.close()
    return {
      startMs,
      bytes: (await storedBytes(name)).bytes,
      freshBytes: (await storedBytes(freshName)).bytes,
    }
  },

  async usage() {
    return (await navigator.storage.estimate()).usage ?? 0
  },
}

;(window as unknown as { bench: BenchApi }).bench = api
