import * as Y from 'yjs'
import { DocPersistence, SyncSession, docId } from '@weft/core'
import { MemoryDocStore, type MemoryNetwork } from '@weft/core/testing'

/** A relay stand-in: a SyncSession with durable storage (it acks once stored), on a MemoryNetwork. */
export const makeRelay = async (net: MemoryNetwork, name: string) => {
  const doc = new Y.Doc()
  const store = new MemoryDocStore()
  const persistence = await DocPersistence.open({ doc, store, docId: docId('d') })
  const session = new SyncSession({ doc, durable: () => persistence.flushed() })
  const transport = net.transport(name)
  session.addTransport(transport)
  transport.connect()
  return { doc, store, session, transport }
}

/** Delivers messages and lets store writes and acks settle until nothing moves (no timers involved). */
export const settle = async (net: MemoryNetwork) => {
  for (let i = 0; i < 20; i++) {
    net.flush()
    await new Promise((r) => setImmediate(r))
    if (net.pending === 0) {
      await new Promise((r) => setImmediate(r))
      if (net.pending === 0) return
    }
  }
  throw new Error('network did not settle')
}
