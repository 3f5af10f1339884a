import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { peerId } from '@weft/core'
import {
  DELETIONS_MATCHED_UPDATE,
  decodeMessage,
  decodeWorkspaceFrame,
  deletionsDigest,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  readDeletions,
} from '@weft/core/protocol'
import { HandshakeEcho } from '../../src/workspace/handshakeEcho.js'
import { WorkspaceDocTransport, type WorkspaceDocPort } from '../../src/workspace/WorkspaceDocTransport.js'

/** A document with two deletions made in two transactions, and the delete set of each as an update. */
const twoDeletions = () => {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  text.insert(0, 'abcdefghij')
  const sv = Y.encodeStateVector(doc)
  text.delete(0, 2)
  const first = Y.encodeStateAsUpdate(doc, sv) // no struct, the first deletion
  text.delete(4, 2)
  const whole = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)) // no struct, both deletions
  return { doc, first, whole }
}

describe('HandshakeEcho', () => {
  it('WS-CLIENT-LINK-9: a held step 2 is sent empty when the relay served its small tail as an update before its step 2', () => {
    const { first, whole } = twoDeletions()
    const echo = new HandshakeEcho()
    // The client answers the relay's step 1 with its whole delete set: held.
    expect(echo.outgoing(encodeSyncStep2(whole, 1, null))).toEqual([])
    expect(echo.incoming(encodeSyncStep1(new Uint8Array([0]), null))).toEqual([])
    // The relay serves its tail (one deletion) as a sync update, then its base (the other) as the step 2.
    expect(echo.incoming(encodeSyncUpdate(first, null, null))).toEqual([])
    const out = echo.incoming(encodeSyncStep2(whole, null, null))
    expect(out).toHaveLength(1)
    const sent = decodeMessage(out[0] as Uint8Array)
    expect(sent).toMatchObject({ type: 'sync-step2', seq: 1 })
    expect(sent.type === 'sync-step2' && Array.from(sent.update)).toEqual([0, 0])
  })

  it('WS-CLIENT-LINK-9: a held step 2 with a deletion the relay lacks goes out unchanged', () => {
    const { first, whole } = twoDeletions()
    const echo = new HandshakeEcho()
    const mine = encodeSyncStep2(whole, 2, null)
    expect(echo.outgoing(mine)).toEqual([])
    expect(echo.incoming(encodeSyncUpdate(first, null, null))).toEqual([])
    expect(echo.incoming(encodeSyncStep2(new Uint8Array([0, 0]), null, null))).toEqual([mine])
  })
})

describe('WorkspaceDocTransport SUBSCRIBE', () => {
  it('WS-WIRE-6: once the document is attached, SUBSCRIBE carries the digest of its deletions', () => {
    const sent: Uint8Array[] = []
    const port: WorkspaceDocPort = {
      open: true,
      status: 'connected',
      connect: () => undefined,
      send: (_doc, frame) => void sent.push(frame),
      drop: () => [],
      released: () => undefined,
      retryDelay: () => 0,
    }
    const { doc } = twoDeletions()
    const transport = new WorkspaceDocTransport(port, 'team', 'd', peerId('relay:team/d'))
    transport.attachDoc(doc)
    transport.connect()
    const frame = decodeWorkspaceFrame(sent[0] as Uint8Array)
    const read = readDeletions(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))
    expect(frame).toEqual({
      ok: true,
      frame: { kind: 'subscribe', doc: 'd', deletions: read && deletionsDigest(read.deletions) },
    })
    transport.destroy()
  })
})

describe('HandshakeEcho after a SUBSCRIBE with a digest', () => {
  it('WS-WIRE-6: a relay step 2 saying the digest matched lets the held step 2 go out empty; a plain empty one does not', () => {
    const { whole } = twoDeletions()
    const sent = readDeletions(whole)?.deletions ?? null
    const matched = new HandshakeEcho()
    matched.reset(sent)
    expect(matched.outgoing(encodeSyncStep2(whole, 3, null))).toEqual([])
    const out = matched.incoming(encodeSyncStep2(DELETIONS_MATCHED_UPDATE, null, null))
    const m = decodeMessage(out[0] as Uint8Array)
    expect(m.type === 'sync-step2' && Array.from(m.update)).toEqual([0, 0])
    // A relay holding no deletion at all answers with the empty update: the client's deletions must go.
    const none = new HandshakeEcho()
    none.reset(sent)
    const mine = encodeSyncStep2(whole, 4, null)
    expect(none.outgoing(mine)).toEqual([])
    expect(none.incoming(encodeSyncStep2(new Uint8Array([0, 0]), null, null))).toEqual([mine])
  })
})
