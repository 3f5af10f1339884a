import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { DocPersistence, EpochManager, SyncSession, docId, type WeftError } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { bindEachEpoch, openDoc } from '../../src/index.js'
import { settle } from './support/memoryRelay.js'

/** An epoch authority (a storing peer with an EpochManager) and a client handle linked to it. */
const setup = async () => {
  const net = new MemoryNetwork()
  const doc = new Y.Doc()
  const persistence = await DocPersistence.open({ doc, store: new MemoryDocStore(), docId: docId('d') })
  const epochs = new EpochManager({ persistence })
  const authority = new SyncSession({
    doc,
    durable: () => persistence.flushed(),
    epoch: epochs.record,
    epochLineage: epochs.lineage,
  })
  epochs.bind(authority)
  const hub = net.transport('authority')
  authority.addTransport(hub)
  hub.connect()
  const t = net.transport('c')
  net.link(t, hub)
  const handle = await openDoc({ docId: 'd', store: new MemoryDocStore(), relay: t, epochs: 'live' })
  const teardown = async () => {
    await handle.destroy()
    epochs.destroy()
    authority.destroy()
    await persistence.destroy()
  }
  return { net, epochs, handle, teardown }
}

describe('bindEachEpoch', () => {
  it('PROV-5.15 binds the current Y.Doc, then cleans up and rebinds on each epoch change; unbind runs the last cleanup', async () => {
    const { net, epochs, handle, teardown } = await setup()
    handle.doc.getMap('m').set('k', 1)
    await settle(net)
    const log: string[] = []
    const bound: Y.Doc[] = []
    const unbind = bindEachEpoch(handle, (doc) => {
      bound.push(doc)
      const n = bound.length
      log.push(`bind ${n}`)
      return () => log.push(`cleanup ${n}`)
    })
    expect(bound).toEqual([handle.doc])
    const first = handle.doc
    const changed = new Promise<void>((r) => handle.once('epoch-changed', () => r()))
    await epochs.start()
    await settle(net)
    await changed
    expect(handle.doc).not.toBe(first)
    expect(bound).toEqual([first, handle.doc])
    expect(bound[1]!.getMap('m').get('k')).toBe(1)
    expect(log).toEqual(['bind 1', 'cleanup 1', 'bind 2'])
    unbind()
    expect(log).toEqual(['bind 1', 'cleanup 1', 'bind 2', 'cleanup 2'])
    await teardown()
  })

  it('PROV-5.15 a bind that throws during a switch is an observer-failed error event, not an exception', async () => {
    const { net, epochs, handle, teardown } = await setup()
    let calls = 0
    bindEachEpoch(handle, () => {
      if (++calls > 1) throw new Error('editor failed')
    })
    const failed = new Promise<WeftError>((r) => handle.once('error', ({ error }) => r(error)))
    await epochs.start()
    await settle(net)
    const error = await failed
    expect(error.code).toBe('observer-failed')
    expect(calls).toBe(2)
    await teardown()
  })
})
