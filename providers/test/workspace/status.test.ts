import { describe, expect, it } from 'vitest'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace, workspaceStatus, type SyncStatus, type WorkspaceProgress } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

describe('workspace status and progress', () => {
  it('WS-CLIENT-6.1: workspaceStatus applies the single-document rules to every document it syncs', () => {
    const idle = { queued: false, pendingChanges: 0 }
    expect(workspaceStatus(['synced', 'synced'], idle)).toBe('synced')
    expect(workspaceStatus(['synced', 'syncing'], idle)).toBe('syncing')
    expect(workspaceStatus(['synced', 'synced'], { queued: true, pendingChanges: 0 })).toBe('syncing')
    expect(workspaceStatus(['synced'], { queued: false, pendingChanges: 1 })).toBe('syncing')
    expect(workspaceStatus(['synced', 'offline'], idle)).toBe('syncing')
    expect(workspaceStatus(['connecting', 'offline'], idle)).toBe('connecting')
    expect(workspaceStatus(['offline', 'offline'], idle)).toBe('offline')
  })

  it('WS-CLIENT-6.1, 6.2: preloading shows progress in documents and bytes; synced only once every document is', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const writer = await openWorkspace({
      id: 'team',
      store: new MemoryDocStore(),
      relay: relay.relayFor('w'),
    })
    await settle(net)
    for (const id of ['a', 'b', 'c']) {
      writer.create({ id })
      const d = await writer.open(id)
      d.doc.getText('t').insert(0, id.repeat(100 * (id.charCodeAt(0) - 96)))
      await settle(net)
      await writer.close(id)
    }
    await settle(net)
    const sizes = writer.list.entries.reduce((n, e) => n + e.size, 0)
    expect(sizes).toBeGreaterThan(600)
    const ws = await openWorkspace({
      id: 'team',
      store: new MemoryDocStore(),
      relay: relay.relayFor('r'),
      preload: 'all',
      concurrency: 1,
    })
    const statuses: SyncStatus[] = [ws.status] // the status when opened, then each change
    const progress: WorkspaceProgress[] = []
    ws.on('status', ({ status }) => statuses.push(status))
    ws.on('progress', (p) => progress.push(p))
    await settle(net)
    await ws.flushed()
    expect(ws.progress).toEqual({ docs: 3, docsDone: 3, bytes: sizes, bytesDone: sizes })
    expect(progress.map((p) => p.docsDone)).toEqual([0, 0, 0, 1, 2, 3])
    expect(ws.status).toBe('synced')
    const firstSynced = statuses.indexOf('synced')
    expect(statuses.slice(0, firstSynced)).toContain('syncing')
    // No `synced` while documents were still queued.
    expect(progress.findIndex((p) => p.docsDone === 3)).toBeGreaterThanOrEqual(0)
    expect(statuses.filter((s) => s === 'synced')).toHaveLength(1)
    await writer.destroy()
    await ws.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-6.3: pendingChanges sums the catalogue, open and closed documents; closed ones are pushed when back online', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    const ws = await openWorkspace({ id: 'team', store, relay: relay.relayFor('c') })
    await settle(net)
    expect(ws.status).toBe('synced')
    ws.disconnect()
    expect(ws.status).toBe('offline')
    ws.create({ id: 'a' }) // one catalogue change
    ws.create({ id: 'b' })
    const a = await ws.open('a')
    a.doc.getText('t').insert(0, 'one')
    a.doc.getText('t').insert(0, 'two')
    const b = await ws.open('b')
    b.doc.getText('t').insert(0, 'three')
    expect(ws.pendingChanges).toBe(ws.catalogue.pendingChanges + 3)
    await ws.close('b')
    await ws.flushed()
    expect(ws.loaded).toEqual(['a'])
    expect(ws.pendingChanges).toBe(ws.catalogue.pendingChanges + 3)
    expect(ws.status).toBe('offline')
    // The workspace reopened on this device still knows what is pending.
    await ws.close('a')
    await ws.destroy()
    const again = await openWorkspace({ id: 'team', store, relay: relay.relayFor('c2'), connect: false })
    expect(again.pendingChanges).toBe(again.catalogue.pendingChanges + 3)
    expect(again.catalogue.pendingChanges).toBeGreaterThan(0)
    again.connect()
    await settle(net)
    await again.flushed()
    expect(again.pendingChanges).toBe(0)
    expect(again.status).toBe('synced')
    expect(again.loaded).toEqual([])
    expect((await relay.doc('team/b')).getText('t').toString()).toBe('three')
    await again.destroy()
    await relay.destroy()
  })
})
