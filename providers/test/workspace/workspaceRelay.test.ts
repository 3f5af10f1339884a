import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { MemoryDocStore } from '@weft/core/testing'
import { WebSocketTransport, openWorkspace, type Workspace } from '../../src/index.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'

let server: WeftServer
beforeAll(async () => {
  server = await startWeftServer()
})
afterAll(async () => {
  await server?.stop()
})

/** Resolves once `check()` holds, checked after each status, progress or list change of the workspaces. */
const until = (workspaces: readonly Workspace[], check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const offs: Array<() => void> = []
    const test = () => {
      if (!check()) return
      for (const off of offs) off()
      resolve()
    }
    for (const ws of workspaces) {
      ws.on('status', test)
      ws.on('progress', test)
      ws.list.on('change', test)
      offs.push(() => {
        ws.off('status', test)
        ws.off('progress', test)
        ws.list.off('change', test)
      })
    }
    test()
  })

const socket = (store: MemoryDocStore) => relaySocket(server.port, store)

describe('workspaces over weft serve', () => {
  it('WS-CLIENT-7.1: two workspaces over one WorkspaceSocket each: the catalogue syncs, a preloaded document arrives unopened', async () => {
    const storeA = new MemoryDocStore()
    const storeB = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store: storeA, relay: socket(storeA) })
    const b = await openWorkspace({ id: 'team', store: storeB, relay: socket(storeB), preload: 'all' })
    expect(a.create({ title: 'Plan', id: 'plan' }).ok).toBe(true)
    const plan = await a.open('plan')
    plan.doc.getText('t').insert(0, 'ship it')
    await plan.whenSaved()
    await a.close('plan')
    // Synced with nothing loaded: the preloaded document was stored without keeping a Y.Doc.
    await until(
      [a, b],
      () => b.list.get('plan')?.local === true && b.status === 'synced' && b.loaded.length === 0,
    )
    expect(b.list.get('plan')).toMatchObject({ title: 'Plan', preloaded: true, open: false })
    b.disconnect() // what b has, it has locally
    const copy = await b.open('plan')
    expect(copy.doc.getText('t').toString()).toBe('ship it')
    await b.close('plan')
    await a.destroy()
    await b.destroy()
  })

  it('WS-CLIENT-7.2: per-document relay connections (WebSocketTransport per room) sync the same workspace', async () => {
    const relay = (room: string) =>
      new WebSocketTransport({ url: server.relayUrl, room, WebSocketPolyfill: WebSocket, minReconnectMs: 20 })
    const a = await openWorkspace({ id: 'rooms', store: new MemoryDocStore(), relay })
    const b = await openWorkspace({ id: 'rooms', store: new MemoryDocStore(), relay })
    a.create({ title: 'Notes', id: 'notes' })
    const notes = await a.open('notes')
    notes.doc.getText('t').insert(0, 'hello')
    await notes.whenSaved()
    await until([b], () => b.list.get('notes') !== undefined)
    const copy = await b.open('notes')
    expect(b.isStale('notes')).toBe(true)
    await copy.whenSynced
    expect(b.isStale('notes')).toBe(false)
    expect(copy.doc.getText('t').toString()).toBe('hello')
    await a.destroy()
    await b.destroy()
  })
})
