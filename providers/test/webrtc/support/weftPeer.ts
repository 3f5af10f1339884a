import { SyncSession, type PeerId } from '@weft/core'
import * as Y from 'yjs'
import type { ChildPeerOptions } from './ipc.js'
import type { PeerProcess } from './PeerProcess.js'
import { RemoteTransport } from './RemoteTransport.js'

/** A Weft peer for tests: a Y.Doc and a SyncSession here, its WebRtcTransport in a child process. */
export interface WeftPeer {
  readonly doc: Y.Doc
  readonly text: Y.Text
  readonly session: SyncSession
  readonly transport: RemoteTransport
  /** Sizes of every message the session handed to the transport. */
  readonly sent: number[]
  destroy(): void
}

/** Creates a {@link WeftPeer} whose transport runs in `proc` (not connected yet). */
export const createWeftPeer = async (proc: PeerProcess, options: ChildPeerOptions): Promise<WeftPeer> => {
  const transport = await RemoteTransport.create(proc, options)
  const sent: number[] = []
  const send = transport.send.bind(transport)
  transport.send = (data: Uint8Array, to?: PeerId) => {
    sent.push(data.length)
    send(data, to)
  }
  const doc = new Y.Doc()
  const session = new SyncSession({ doc })
  session.addTransport(transport)
  return {
    doc,
    text: doc.getText('t'),
    session,
    transport,
    sent,
    destroy: () => {
      session.destroy()
      transport.destroy()
      doc.destroy()
    },
  }
}

/** Resolves once `text` reads `expected` (immediately if it already does). */
export const textBecomes = (text: Y.Text, expected: string): Promise<void> =>
  new Promise((resolve) => {
    const check = () => {
      if (text.toString() !== expected) return
      text.unobserve(check)
      resolve()
    }
    text.observe(check)
    check()
  })
