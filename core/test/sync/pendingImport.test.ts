import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openDocument } from '../../src/index.js'
import { MemoryDocStore, MemoryNetwork } from '../../src/testing/index.js'
import { TestNet, text } from './peers.js'
import { settle } from '../support/settleHandles.js'

/** Peers x and y, each connected to a third, `relay`. */
const throughRelay = () => {
  const net = new TestNet()
  const x = net.peer('x')
  const relay = net.peer('relay')
  const y = net.peer('y')
  net.connect(x, relay)
  net.connect(y, relay)
  return { net, x, relay, y }
}

/** Two updates of an outside document (an importer's): `second` inserts after `first`'s text. */
const twoUpdates = (): { first: Uint8Array; second: Uint8Array } => {
  const src = new Y.Doc()
  const t = src.getText('t')
  let sv = Y.encodeStateVector(src)
  t.insert(0, 'one;')
  const first = Y.encodeStateAsUpdate(src, sv)
  sv = Y.encodeStateVector(src)
  t.insert(4, 'two;')
  return { first, second: Y.encodeStateAsUpdate(src, sv) }
}

describe('a local import held pending by Yjs', () => {
  it('SYNC-3.7: integrated by a peer update, it is sent to that peer too, as one more local change', () => {
    const { net, x, relay, y } = throughRelay()
    net.flush()
    const { first, second } = twoUpdates()
    Y.applyUpdate(x.doc, second) // needs `first`: Yjs keeps it pending
    net.flush()
    expect(x.doc.store.pendingStructs).not.toBe(null)
    expect(x.session.localChanges).toBe(0)
    expect(text(relay)).toBe('')
    Y.applyUpdate(y.doc, first) // reaches x through the relay, and integrates x's pending import
    net.flush()
    expect(text(x)).toBe('one;two;')
    expect(x.session.localChanges).toBe(1)
    expect(text(relay)).toBe('one;two;')
    expect(text(y)).toBe('one;two;')
    // Nothing pending: an ordinary remote update costs no extra encoding and counts nothing.
    y.doc.getText('t').insert(0, '>')
    net.flush()
    expect(text(x)).toBe('>one;two;')
    expect(x.session.localChanges).toBe(1)
  })

  it('SYNC-3.7: what is sent is the import alone, and a pending imported deletion too', () => {
    const { net, x, relay, y } = throughRelay()
    y.doc.getText('t').insert(0, 'ab')
    y.doc.getText('t').delete(0, 1) // the document has a delete set of its own
    net.flush()
    const sent: Uint8Array[] = []
    x.session.on('local-integrated', ({ update }) => sent.push(update))
    const { first, second } = twoUpdates()
    Y.applyUpdate(x.doc, second)
    Y.applyUpdate(y.doc, first)
    net.flush()
    expect(sent).toHaveLength(1)
    const decoded = Y.decodeUpdate(sent[0] as Uint8Array)
    expect(decoded.structs.map((s) => (s as Y.Item).content.getContent().join(''))).toEqual(['two;'])
    expect(decoded.ds.clients.size).toBe(0)
    // A deletion imported before the item it deletes: Yjs keeps it pending until the item arrives.
    const src = new Y.Doc()
    const st = src.getText('t')
    st.insert(0, 'xyz')
    const insert = Y.encodeStateAsUpdate(src)
    const sv = Y.encodeStateVector(src)
    st.delete(1, 1)
    const deletion = Y.encodeStateAsUpdate(src, sv)
    Y.applyUpdate(x.doc, deletion)
    expect(x.doc.store.pendingDs).not.toBe(null)
    Y.applyUpdate(y.doc, insert)
    net.flush()
    expect(x.session.localChanges).toBe(2)
    expect(text(relay)).toBe(text(x))
    expect(text(y)).toBe(text(x))
    expect(text(x)).not.toContain('y')
  })

  it('SYNC-3.7: held pending it is no change (pendingChanges 0); integrated, it counts until the relay stored it', async () => {
    const net = new MemoryNetwork()
    const relay = await openDocument({ docId: 'd', store: new MemoryDocStore(), persistPending: false })
    const relayT = net.transport('relay')
    relay.addTransport(relayT)
    relayT.connect()
    const client = async (name: string) => {
      const handle = await openDocument({ docId: 'd', store: new MemoryDocStore() })
      const t = net.transport(name)
      net.link(t, relayT)
      handle.addTransport(t, { relay: true })
      t.connect()
      return handle
    }
    const x = await client('x')
    const y = await client('y')
    await settle(net, [x, y, relay])
    const seen: number[] = []
    x.on('pending-changed', ({ pendingChanges }) => seen.push(pendingChanges))
    const { first, second } = twoUpdates()
    Y.applyUpdate(x.doc, second)
    expect(x.pendingChanges).toBe(0) // not part of the document yet
    Y.applyUpdate(y.doc, first)
    await settle(net, [x, y, relay])
    expect(x.doc.getText('t').toString()).toBe('one;two;')
    expect(relay.doc.getText('t').toString()).toBe('one;two;')
    expect(seen).toEqual([1, 0])
    expect(x.pendingChanges).toBe(0)
    await x.destroy()
    await y.destroy()
    await relay.destroy()
  })
})
