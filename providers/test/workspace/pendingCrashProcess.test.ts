/**
 * WS-CLIENT-6.4 across a real crash: a process edits a workspace document offline with it open, its edit stored, and
 * is killed (SIGKILL). Restarted over the same SQLite file and online with `weft serve`, the workspace counts the
 * edit as pending, pushes it, and another device reads it. (The reviewer's repro of issue #15 review F1.)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { docId, type DocStore } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { SqliteDocStore } from '@weft/sqlite-store'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { storedPending } from '../../src/workspace/LocalIndex.js'
import { spawnTsChild } from '../integration/support/tsChild.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'

const CHILD = fileURLToPath(new URL('./support/pendingCrashChild.ts', import.meta.url))

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Runs the child over `path` until it says `ready`, then kills it (SIGKILL). Resolves with its pending count. */
const editThenKill = async (path: string): Promise<number> => {
  const child = spawnTsChild(CHILD, [path])
  const ready = await child.next<{ pendingChanges: number }>()
  await child.kill()
  return ready.pendingChanges
}

const client = async (port: number, store: DocStore): Promise<Workspace> => {
  const ws = await openWorkspace({
    id: 'team',
    store,
    relay: relaySocket(port, store, { maxReconnectMs: 200 }),
    connect: false,
  })
  cleanups.push(() => ws.destroy())
  return ws
}

/** Resolves once `check()` holds, checked after each status change of `ws`. */
const until = (ws: Workspace, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      ws.off('status', test)
      resolve()
    }
    ws.on('status', test)
    test()
  })

describe('workspace pending count after a crash (SQLite, weft serve)', () => {
  it('WS-CLIENT-6.4: a document open when the process was killed counts as pending after the restart and is pushed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-pending-crash-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'client.db')
    expect(await editThenKill(path)).toBeGreaterThan(1) // the catalogue's change and x's
    const server: WeftServer = await startWeftServer()
    cleanups.push(() => server.stop())
    const store = new SqliteDocStore({ path })
    cleanups.push(() => store.close())
    expect(storedPending(await store.load(docId('team/x')))).toBe(1)
    const restarted = await client(server.port, store)
    expect(restarted.pendingChanges).toBe(restarted.catalogue.pendingChanges + 1)
    restarted.connect()
    await until(restarted, () => restarted.status === 'synced')
    expect(restarted.pendingChanges).toBe(0)
    expect(storedPending(await store.load(docId('team/x')))).toBe(0)
    const other = await client(server.port, new MemoryDocStore())
    other.connect()
    await until(other, () => other.status === 'synced')
    const x = await other.open('x')
    await x.whenSynced
    expect(x.doc.getText('t').toString()).toBe('offline edit')
  })
})
