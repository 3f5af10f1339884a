import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { peerId } from '@weft/core'
import { decodeWorkspaceFrame, deletionsDigest, readDeletions } from '@weft/core/protocol'
import { WorkspaceDocTransport, type WorkspaceDocPort } from '../../src/workspace/WorkspaceDocTransport.js'

/** A port whose connection the test opens and closes; the SUBSCRIBE digests sent, in order. */
const fakePort = () => {
  const digests: Array<Uint8Array | null> = []
  const port: WorkspaceDocPort & { open: boolean } = {
    open: true,
    status: 'connected',
    connect: () => undefined,
    send: (_doc, frame) => {
      const r = decodeWorkspaceFrame(frame)
      if (r.ok && r.frame.kind === 'subscribe') digests.push(r.frame.deletions)
    },
    drop: () => [],
    released: () => undefined,
    retryDelay: () => 0,
  }
  return { port, digests }
}

const digestOf = (doc: Y.Doc): Uint8Array | null => {
  const read = readDeletions(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))
  return read && deletionsDigest(read.deletions)
}

/** The connection closes and opens again: the transport subscribes again. */
const reconnect = (transport: WorkspaceDocTransport, port: { open: boolean }) => {
  port.open = false
  transport.linkClosed('closed 1006')
  port.open = true
  transport.linkOpened()
}

describe('WorkspaceDocTransport SUBSCRIBE across reconnections', () => {
  it('WS-WIRE-6: each SUBSCRIBE carries the digest of the deletions the document holds at that reconnection', () => {
    const { port, digests } = fakePort()
    const doc = new Y.Doc()
    const text = doc.getText('t')
    text.insert(0, 'abcdefghij')
    text.delete(0, 2)
    const transport = new WorkspaceDocTransport(port, 'team', 'd', peerId('relay:team/d'))
    transport.attachDoc(doc)
    transport.connect()
    const first = digestOf(doc)
    // An edit that deletes nothing keeps the deletions (and the digest, read once for both reconnections).
    text.insert(0, 'xy')
    reconnect(transport, port)
    // A local deletion, then a remote one (an update from another replica), each changes what the next one sends.
    text.delete(3, 2)
    reconnect(transport, port)
    const afterLocal = digestOf(doc)
    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
    const sv = Y.encodeStateVector(other)
    other.getText('t').delete(0, 1)
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, sv))
    reconnect(transport, port)
    expect(digests).toEqual([first, first, afterLocal, digestOf(doc)])
    expect(new Set(digests.map((d) => d && Array.from(d).join())).size).toBe(3)
    transport.destroy()
  })

  it('WS-WIRE-6: a transport given another document sends that document’s digest', () => {
    const { port, digests } = fakePort()
    const a = new Y.Doc()
    a.getText('t').insert(0, 'abc')
    a.getText('t').delete(0, 1)
    const b = new Y.Doc()
    const transport = new WorkspaceDocTransport(port, 'team', 'd', peerId('relay:team/d'))
    transport.attachDoc(a)
    transport.connect()
    transport.attachDoc(b)
    reconnect(transport, port)
    expect(digests).toEqual([digestOf(a), digestOf(b)])
    transport.destroy()
  })
})
