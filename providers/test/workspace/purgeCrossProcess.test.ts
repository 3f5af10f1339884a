import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { docId, purgeSeenMetaKey } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { SqliteDocStore } from '../../src/node/index.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'

// `weft serve --workspace-retention-ms` (SQLite, given through WEFT_WORKSPACE_RETENTION_MS) in its own process,
// workspace clients in this one: a deleted document is purged on the relay and on the replicas, and a replica that
// kept it (with changes) offline for longer than the retention cannot bring it back.

const DAY = 24 * 60 * 60 * 1000
const servers: WeftServer[] = []
const workspaces: Workspace[] = []
afterEach(async () => {
  for (const ws of workspaces.splice(0)) await ws.destroy()
  for (const s of servers.splice(0)) await s.stop()
  delete process.env['WEFT_WORKSPACE_RETENTION_MS']
})

const start = async (dataDir?: string): Promise<WeftServer> => {
  process.env['WEFT_WORKSPACE_RETENTION_MS'] = String(DAY)
  const server = await startWeftServer(dataDir === undefined ? {} : { dataDir })
  servers.push(server)
  return server
}

/** A replica of workspace `team` on `store`, linked to `port`, with a one-day retention and the clock `now`. */
const replica = async (port: number, store: MemoryDocStore, now: () => number): Promise<Workspace> => {
  const ws = await openWorkspace({
    id: 'team',
    store,
    relay: relaySocket(port, store, { maxReconnectMs: 200 }),
    retention: DAY,
    now,
  })
  workspaces.push(ws)
  return ws
}

/** Resolves once `check()` holds, checked after each status, progress or list change of `ws`. */
const until = (ws: Workspace, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      ws.off('status', test)
      ws.off('progress', test)
      ws.list.off('change', test)
      resolve()
    }
    ws.on('status', test)
    ws.on('progress', test)
    ws.list.on('change', test)
    test()
  })

const idle = (ws: Workspace) => ws.status === 'synced' && ws.loaded.length === 0 && ws.pendingChanges === 0

describe('purge of deleted documents across processes (weft serve, SQLite)', () => {
  it('WS-PURGE-4, 5, 6: a document deleted past the retention is purged from the relay file and from a replica that kept it offline with changes, which cannot write it back', async () => {
    const first = await start()
    const storeA = new MemoryDocStore()
    const storeB = new MemoryDocStore()
    // A's clock runs two days behind: its tombstone is past the one-day retention at once, for B and for the relay.
    const a = await replica(first.port, storeA, () => Date.now() - 2 * DAY)
    const b = await replica(first.port, storeB, () => Date.now())
    await until(a, () => idle(a))
    await until(b, () => idle(b))
    expect(a.create({ id: 'd', title: 'doomed' }).ok).toBe(true)
    expect(a.create({ id: 'keep', title: 'kept' }).ok).toBe(true)
    for (const id of ['d', 'keep']) {
      const doc = await a.open(id)
      doc.doc.getText('t').insert(0, `${id} by a`)
      await doc.whenSaved()
      await a.close(id)
    }
    await until(b, () => b.list.get('d') !== undefined)
    const bd = await b.open('d')
    await bd.whenSynced
    expect(bd.doc.getText('t').toString()).toBe('d by a')

    // B goes offline with the document open and edits it: a pending change the relay never stores.
    b.disconnect()
    bd.doc.getText('t').insert(0, 'offline edit. ')
    await b.close('d')
    expect(b.pendingChanges).toBeGreaterThan(0)
    a.delete('d')
    await a.catalogue.whenSaved()
    await until(a, () => idle(a))

    // The relay restarts (a sweep at start): it purges team/d from its file.
    await first.stop({ keepData: true })
    servers.splice(servers.indexOf(first), 1)
    // Two days pass: the relay's retention counts from when it first saw the tombstone (WS-PURGE-1), which its file
    // records in the catalogue's meta; the restart happens two days after that.
    const stopped = new SqliteDocStore({ path: join(first.dataDir, 'store', 'weft.sqlite') })
    await stopped.setMeta(docId('team/.catalogue'), purgeSeenMetaKey('d'), String(Date.now() - 2 * DAY))
    await stopped.close()
    const second = await start(first.dataDir)

    // B comes back (restarted on its store, pending change and all): it must not resurrect the document.
    await b.destroy()
    workspaces.splice(workspaces.indexOf(b), 1)
    const errors: string[] = []
    const b2 = await replica(second.port, storeB, () => Date.now())
    b2.on('error', ({ error }) => errors.push(error.message))
    // Opened at once, before the tombstone arrives: its subscription carries the offline edit to the relay, which
    // refuses the document (WS-PURGE-5) instead of storing it again.
    const again = await b2.open('d')
    expect(again.doc.getText('t').toString()).toBe('offline edit. d by a')
    await until(b2, () => b2.list.get('d')?.deleted === true)
    await b2.close('d')
    await until(b2, () => idle(b2))
    expect(await storeB.list()).not.toContain('team/d')
    expect(b2.pendingChanges).toBe(0)
    // The other document is untouched on the relay.
    const keep = await b2.open('keep')
    await keep.whenSynced
    expect(keep.doc.getText('t').toString()).toBe('keep by a')
    await b2.close('keep')
    await b2.destroy()
    workspaces.splice(workspaces.indexOf(b2), 1)

    // What the relay's file holds once it stops: no trace of team/d (nor of B's offline edit), team/keep intact.
    await second.stop({ keepData: true })
    servers.splice(servers.indexOf(second), 1)
    const relayFile = new SqliteDocStore({ path: join(first.dataDir, 'store', 'weft.sqlite') })
    try {
      const ids = await relayFile.list()
      expect(ids).toContain('team/keep')
      expect(ids.filter((id) => id === 'team/d' || id.startsWith('team/d~'))).toEqual([])
    } finally {
      await relayFile.close()
    }
  })
})
