import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { META_NAME, workspaceDocId } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const CATALOGUE = workspaceDocId('team', '.catalogue')

/** Whether `doc` holds anything its own client wrote. */
const wroteHere = (doc: Y.Doc): boolean => Y.decodeStateVector(Y.encodeStateVector(doc)).has(doc.clientID)

describe('the catalogue schema mark (WS-CLIENT-1.6)', () => {
  it('WS-CLIENT-1.6: a device joining a workspace writes nothing to its catalogue: no mark, no new deletion at the relay', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('a') })
    for (let i = 0; i < 20; i++) expect(a.create({ title: `d${i}`, id: `d${i}` }).ok).toBe(true)
    await settle(net)
    await a.catalogue.whenSynced
    const held = await relay.doc(CATALOGUE)
    const before = Y.encodeStateAsUpdate(held)

    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('b') })
    expect(wroteHere(b.catalogue.doc)).toBe(false) // nothing written at open
    await settle(net)
    await b.catalogue.whenSynced
    await settle(net)

    expect(b.list.entries).toHaveLength(20)
    expect(b.typed.documentVersion).toBe(1) // A's mark, synced
    expect(b.typed.writable).toBe(true)
    expect(wroteHere(b.catalogue.doc)).toBe(false)
    expect(b.catalogue.pendingChanges).toBe(0)
    // The relay's catalogue is byte for byte what it was: no item and no deletion from the new device.
    expect(Y.encodeStateAsUpdate(held)).toEqual(before)
    // A's catalogue holds the same state as the relay's (no deletion only a replica's Y.Doc knows).
    expect(Y.encodeStateAsUpdate(a.catalogue.doc)).toEqual(before)
    await b.destroy()
    await a.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-1.6, WS-CLIENT-1.8: the first device marks the new catalogue at its first local write, not when it synced, once', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('a') })
    expect(a.typed.documentVersion).toBe(0)
    await settle(net)
    await a.catalogue.whenSynced
    await settle(net)
    expect(a.typed.documentVersion).toBe(0) // synced, nothing written (a reader could not send it)
    expect(wroteHere(a.catalogue.doc)).toBe(false)
    expect(a.create({ title: 'first', id: 'first' }).ok).toBe(true)
    expect(a.typed.documentVersion).toBe(1)
    expect(a.catalogue.doc.getMap(META_NAME).get('name')).toBe('weft-catalogue')
    await settle(net)
    expect((await relay.doc(CATALOGUE)).getMap(META_NAME).toJSON()).toEqual(
      a.catalogue.doc.getMap(META_NAME).toJSON(),
    )
    await a.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-1.6: offline, the first local write to a new catalogue marks it too; a marked catalogue reopens unchanged', async () => {
    const store = new MemoryDocStore()
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const ws = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a'), connect: false })
    expect(ws.typed.documentVersion).toBe(0)
    expect(ws.create({ title: 'Notes', id: 'notes' }).ok).toBe(true)
    expect(ws.typed.documentVersion).toBe(1)
    await ws.destroy()
    const again = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a'), connect: false })
    expect(again.typed.documentVersion).toBe(1)
    expect(again.list.entries.map((e) => e.title)).toEqual(['Notes'])
    await again.destroy()
    await relay.destroy()
  })
})
