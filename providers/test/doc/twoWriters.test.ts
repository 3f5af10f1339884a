/**
 * STORE-9.7 across real processes (outside review R2): two processes write one SQLite file. B goes offline and
 * stores an edit; A stores five edits and the relay (`weft serve`) acknowledges them; both are killed (SIGKILL). No
 * writer's count or client id may be lost to the other's write: the stored count still holds B's edit, a workspace
 * with a budget keeps the document, and the recorded client ids hold both processes' ids (RULES-5.14).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DocPersistence, docId, storedPendingCount } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { openWorkspace } from '../../src/index.js'
import { spawnTsChild } from '../integration/support/tsChild.js'
import { startWeftServer } from '../integration/support/weftServer.js'

const CHILD = fileURLToPath(new URL('./support/storeWriterChild.ts', import.meta.url))

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Reply {
  readonly clientId: number
  readonly pending: number
}

/** Two writer processes of one SQLite file on `room`: B's offline edit, A's five acknowledged edits, both killed. */
const twoWritersKilled = async (room: string) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-two-writers-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'client.db')
  const server = await startWeftServer()
  cleanups.push(() => server.stop())
  const a = spawnTsChild(CHILD, [path, server.relayUrl, room])
  cleanups.push(() => a.kill())
  await a.next<Reply>()
  const b = spawnTsChild(CHILD, [path, server.relayUrl, room])
  cleanups.push(() => b.kill())
  const bOpen = await b.next<Reply>()
  await b.call<Reply>({ cmd: 'offline' })
  expect((await b.call<Reply>({ cmd: 'edit', text: 'ONLY-IN-B ' })).pending).toBe(1)
  await a.call<Reply>({ cmd: 'edit', text: 'a', n: 5 })
  const aSaved = await a.call<Reply>({ cmd: 'saved' })
  expect(aSaved.pending).toBe(0)
  await b.kill()
  await a.kill()
  const store = new SqliteDocStore({ path })
  cleanups.push(() => store.close())
  return { store, clients: [aSaved.clientId, bOpen.clientId] }
}

describe('two writers of one SQLite file (STORE-9.7)', { timeout: 60_000 }, () => {
  // One run of the two processes (about 10 s on the shared machine); the checks below read what it left.
  const ROOM = 'ws1/notes'
  let killed: Awaited<ReturnType<typeof twoWritersKilled>>
  beforeAll(async () => {
    killed = await twoWritersKilled(ROOM)
  }, 60_000)

  it('STORE-9.7: neither process overwrites the other’s pending count; the reopened store counts B’s edit', async () => {
    const stored = await killed.store.load(docId(ROOM))
    expect(storedPendingCount(stored?.meta ?? {})).toBe(1)
  })

  it('RULES-5.14: the recorded client ids hold both processes’ ids', async () => {
    const doc = new Y.Doc()
    const p = await DocPersistence.open({
      doc,
      store: killed.store,
      docId: docId(ROOM),
      compactor: null,
      recordOwnClients: true,
    })
    for (const id of killed.clients) expect(p.ownClients?.has(id)).toBe(true)
    await p.destroy()
  })

  it('STORE-9.7, WS-CLIENT-5.1: a workspace with a budget never evicts the document B’s edit is pending in', async () => {
    const { store } = killed
    const ws = await openWorkspace({ id: 'ws1', store, budget: 1, connect: false })
    cleanups.push(() => ws.destroy())
    ws.create({ id: 'n', title: 'x' })
    const h = await ws.open('n')
    h.doc.getText('t').insert(0, 'y')
    await ws.close('n')
    await ws.flushed()
    expect(await store.load(docId(ROOM))).not.toBe(null)
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: docId(ROOM), compactor: null })
    expect(doc.getText('t').toString()).toContain('ONLY-IN-B')
    await p.destroy()
  })
})
