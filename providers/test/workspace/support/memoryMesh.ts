import * as Y from 'yjs'
import { applyStoredDoc, docId, type DocStore } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { DocMux, openWorkspace, type Workspace } from '../../../src/index.js'

/**
 * Relay-less workspace replicas of workspace `W` over a MemoryNetwork (one DocMux per replica, as WorkspaceWebRtc
 * is), for the hostile-peer tests. The network's queue is delivered by a pump (each macrotask) until `close()`;
 * tests wait with {@link MemoryMesh.until}, which checks a condition after each delivery round.
 */
export class MemoryMesh {
  readonly net = new MemoryNetwork()
  readonly workspaces: Workspace[] = []
  #pumping = true
  #waiters = new Set<() => void>()
  readonly #timer: ReturnType<typeof setInterval>

  constructor(readonly W: string) {
    this.#timer = setInterval(() => {
      if (!this.#pumping) return
      this.net.flush()
      for (const w of [...this.#waiters]) w()
    }, 1)
  }

  /** A replica named `name` (its peer id) on `store`, with the clock `now`. */
  async replica(
    name: string,
    options: { store?: DocStore; now?: () => number; retention?: number } = {},
  ): Promise<{ ws: Workspace; mux: DocMux; store: DocStore }> {
    const store = options.store ?? new MemoryDocStore()
    const base = this.net.transport(name)
    const mux = new DocMux(this.W, base)
    const ws = await openWorkspace({
      id: this.W,
      store,
      transports: [mux],
      ...(options.now ? { now: options.now } : {}),
      ...(options.retention !== undefined ? { retention: options.retention } : {}),
    })
    this.workspaces.push(ws)
    return { ws, mux, store }
  }

  /** Resolves once `check()` holds, checked now and after each delivery round of the network. */
  until(check: () => boolean | Promise<boolean>): Promise<void> {
    return new Promise((resolve, reject) => {
      let busy = false
      const test = () => {
        if (busy) return
        busy = true
        Promise.resolve(check()).then(
          (ok) => {
            busy = false
            if (!ok) return
            this.#waiters.delete(test)
            resolve()
          },
          (err: unknown) => {
            this.#waiters.delete(test)
            reject(err instanceof Error ? err : new Error(String(err)))
          },
        )
      }
      this.#waiters.add(test)
      test()
    })
  }

  /** Destroys every replica and stops the pump. */
  async close(): Promise<void> {
    for (const ws of this.workspaces.splice(0)) await ws.destroy()
    this.#pumping = false
    clearInterval(this.#timer)
  }
}

/** The text `t` of workspace document `d` of `W` as `store` holds it, or null when it holds nothing. */
export const storedText = async (store: DocStore, W: string, d: string): Promise<string | null> => {
  const stored = await store.load(docId(`${W}/${d}`))
  if (!stored) return null
  const doc = new Y.Doc()
  applyStoredDoc(doc, stored, null)
  return doc.getText('t').toString()
}

/**
 * Writes the same catalogue of workspace `W`, holding a record of each of `ids`, into every store of `stores` (the
 * same bytes, as two replicas that synced it): a peer summary syncs only documents the catalogue holds (WS-PEER-6).
 */
export const seedCatalogue = async (
  stores: readonly DocStore[],
  W: string,
  ids: readonly string[],
): Promise<void> => {
  const scratch = new MemoryDocStore()
  const ws = await openWorkspace({ id: W, store: scratch, connect: false })
  for (const id of ids) {
    const r = ws.create({ id, title: id })
    if (!r.ok) throw new Error(`seedCatalogue: ${id}: ${r.reason}`)
  }
  await ws.flushed()
  await ws.destroy()
  const stored = await scratch.load(docId(`${W}/.catalogue`))
  const doc = new Y.Doc()
  if (stored) applyStoredDoc(doc, stored, null)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  for (const store of stores) await store.append(docId(`${W}/.catalogue`), update)
}
