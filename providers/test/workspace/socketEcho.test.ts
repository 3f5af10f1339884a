import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { MemoryDocStore } from '@weft/core/testing'
import { decodeMessage } from '@weft/core/protocol'
import { openDoc, type WeftDoc } from '../../src/index.js'
import { WorkspaceSocket } from '../../src/workspace/WorkspaceSocket.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { once } from './socketFakeRelay.js'

// A real `weft serve`: it stores every update that is not empty, as a Yjs step 2 with deletions always is.
let server: WeftServer
let base: string
beforeAll(async () => {
  server = await startWeftServer()
  base = `ws://127.0.0.1:${server.port}`
})
afterAll(async () => {
  await server?.stop()
})

const socket = () => new WorkspaceSocket({ url: base, workspace: 'echo', WebSocketPolyfill: WebSocket })

/** The relay's change sequence of the workspace now (a fresh socket's catch-up from 0). */
const seqNow = async (): Promise<number> => {
  const s = socket()
  s.connect()
  const { through } = await once<{ through: number }>(s, 'caught-up')
  await s.close()
  return through
}

/** Opens `W/d` over a new socket, waits for the sync and for the relay's ack of the step 2 it sent, closes. */
const syncOnce = async (store: MemoryDocStore, d: string): Promise<WeftDoc['doc']> => {
  const link = socket()
  const transport = link.transportFor(d)
  const acked = new Promise<void>((resolve) => {
    transport.on('message', ({ data }) => {
      if (decodeMessage(data).type === 'ack') resolve()
    })
  })
  const doc = await openDoc({ docId: `echo/${d}`, store, relay: transport })
  await doc.whenSynced
  await acked // durable at the relay: its change number (if any) is taken
  const text = doc.doc.getText('t').toString()
  await doc.destroy()
  await link.close()
  return text as unknown as WeftDoc['doc']
}

describe('WorkspaceSocket handshakes', () => {
  it('WS-CLIENT-LINK-9: syncing a document the relay already has (with deletions) is no change of the workspace', async () => {
    const store = new MemoryDocStore()
    const link = socket()
    const doc = await openDoc({ docId: 'echo/x', store, relay: link.transportFor('x') })
    doc.doc.getText('t').insert(0, 'hello world')
    doc.doc.getText('t').delete(0, 6)
    await doc.whenSaved()
    await doc.destroy()
    await link.close()
    expect(String(await syncOnce(store, 'x'))).toBe('world')
    const before = await seqNow()
    expect(before).toBeGreaterThan(0)
    for (let i = 0; i < 3; i++) expect(String(await syncOnce(store, 'x'))).toBe('world')
    // Each handshake sent a step 2 (acknowledged), none was stored: no CHANGED for any replica to sync again.
    expect(await seqNow()).toBe(before)
    // A deletion the relay lacks still goes out in the step 2 (the relay's step 2 does not show it).
    const offline = await openDoc({ docId: 'echo/x', store })
    offline.doc.getText('t').delete(0, 1)
    await offline.destroy()
    expect(String(await syncOnce(store, 'x'))).toBe('orld')
    expect(await seqNow()).toBeGreaterThan(before)
    const check = await syncOnce(new MemoryDocStore(), 'x')
    expect(String(check)).toBe('orld')
  })
})
