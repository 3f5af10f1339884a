import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { WebSocket } from 'ws'
import type { DocId } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, WebSocketTransport, type WeftDoc } from '../../src/index.js'
import { WORKSPACE_CURSOR_META } from '../../src/workspace/WorkspaceSocket.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'
import { once } from './socketFakeRelay.js'

// A real `weft serve` (SQLite store with its workspace index): the relay's /workspace endpoint end to end.
let server: WeftServer
let base: string
beforeAll(async () => {
  server = await startWeftServer()
  base = `ws://127.0.0.1:${server.port}`
})
afterAll(async () => {
  await server?.stop()
})

const text = (d: { doc: Y.Doc }) => d.doc.getText('t').toString()
const arrived = (d: { doc: Y.Doc }, want: string) =>
  new Promise<void>((resolve) => {
    const check = () => {
      if (text(d) !== want) return
      d.doc.off('update', check)
      resolve()
    }
    d.doc.on('update', check)
    check()
  })

describe('WorkspaceSocket against weft serve', () => {
  it('WS-CLIENT-LINK-1, 2, 4, 5: documents sync over one socket, stock clients see W/D, changes are pushed and caught up', async () => {
    const link = (store: MemoryDocStore) => relaySocket(base, store)
    const storeA = new MemoryDocStore()
    const storeB = new MemoryDocStore()
    const a = link(storeA)
    const b = link(storeB)
    const docs: WeftDoc[] = []
    let through = 0
    try {
      const notesA = await openDoc({ docId: 'team/notes', store: storeA, relay: a.transportFor('notes') })
      docs.push(notesA)
      // B watches the workspace without opening anything.
      b.connect()
      await once(b, 'caught-up')
      const pushed = once<{ doc: string; seq: number }>(
        b,
        'changed',
        (e: { doc: string }) => e.doc === 'notes',
      )
      notesA.doc.getText('t').insert(0, 'hello')
      await notesA.whenSaved() // acknowledged by the relay over DOC frames
      const notesChange = await pushed
      expect(notesChange.seq).toBeGreaterThan(0)
      // B opens the document it was told about: an ordinary sync session over B's one socket.
      const notesB = await openDoc({ docId: 'team/notes', store: storeB, relay: b.transportFor('notes') })
      docs.push(notesB)
      await arrived(notesB, 'hello')
      b.handled(notesChange.seq)
      // A stock per-room client sees the same document as the room team/notes.
      const stock = await openDoc({
        docId: 'team/notes',
        relay: new WebSocketTransport({
          url: server.relayUrl,
          room: 'team/notes',
          WebSocketPolyfill: WebSocket,
        }),
      })
      docs.push(stock)
      await arrived(stock, 'hello')

      // B goes offline; A writes another document; B's reconnection catches up on it.
      b.disconnect()
      const todoA = await openDoc({ docId: 'team/todo', store: storeA, relay: a.transportFor('todo') })
      docs.push(todoA)
      todoA.doc.getText('t').insert(0, 'buy milk')
      await todoA.whenSaved()
      const changed: string[] = []
      b.on('changed', ({ doc }) => changed.push(doc))
      const caughtUp = once<{ through: number }>(b, 'caught-up')
      b.connect()
      ;({ through } = await caughtUp)
      expect(changed).toEqual(['todo'])
      expect(through).toBeGreaterThan(notesChange.seq)
      // The open document is subscribed again and keeps syncing.
      notesA.doc.getText('t').insert(5, ', world')
      await arrived(notesB, 'hello, world')
      for (let seq = 1; seq <= through; seq++) b.handled(seq) // the later ', world' change is not handled
    } finally {
      for (const d of docs) await d.destroy()
      await a.close()
      await b.close()
    }
    const stored = (await storeB.load('team/.catalogue' as DocId))?.meta[WORKSPACE_CURSOR_META]
    expect(stored).toBe(String(through))
  })
})
