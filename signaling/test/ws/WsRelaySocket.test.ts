import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { CloseCode, docId } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { WsRelaySocket } from '../../src/ws/WsRelaySocket.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startMemoryRelay, type MemoryRelay } from '../relay/unit/memoryRelay.js'

let relay: MemoryRelay | null = null
let http: Server | null = null
let wss: WebSocketServer | null = null
const clients: StockClient[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  wss?.close()
  http?.closeAllConnections()
  await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)))
  await relay?.close()
  relay = wss = http = null
})

/** A node:http server whose upgrades at /relay/<room> go through a `ws` WebSocketServer to the relay hub. */
const serve = async (
  store = new MemoryDocStore(),
  /** When the relay gets each socket (default: at once). */
  handOver: (ws: WebSocket, accept: () => void) => void = (_ws, accept) => accept(),
): Promise<string> => {
  const r = (relay = startMemoryRelay({ store }))
  const server = (wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 }))
  http = createServer()
  http.on('upgrade', (req, socket, head) => {
    const room = decodeURIComponent(
      new URL(req.url ?? '/', 'http://relay').pathname.replace(/^\/relay\//, ''),
    )
    server.handleUpgrade(req, socket, head, (ws) => {
      const adapted = new WsRelaySocket(ws)
      handOver(ws, () => r.hub.accept(adapted, room, 'write'))
    })
  })
  await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve))
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/relay`
}

const update = (text: string): Uint8Array => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

describe('WsRelaySocket: the relay over the ws package', () => {
  it('stock y-websocket clients sync through a ws WebSocketServer handing its sockets to the relay hub', async () => {
    const store = new MemoryDocStore()
    await store.append(docId('room'), update('stored'))
    const url = await serve(store)
    const a = stockClient(url, 'room')
    const b = stockClient(url, 'room')
    const c = stockClient(url, 'room')
    clients.push(a, b, c)
    await Promise.all([a.synced(), b.synced(), c.synced()])
    // RELAY-2.1: synced means the stored state is in.
    expect(a.doc.getText('t').toString()).toBe('stored')
    a.doc.getText('t').insert(0, 'hello ')
    await Promise.all([textEquals(b.doc, 'hello stored'), textEquals(c.doc, 'hello stored')])
    c.doc.getText('t').insert(12, '!')
    await Promise.all([textEquals(a.doc, 'hello stored!'), textEquals(b.doc, 'hello stored!')])
    // Everything the clients wrote is stored (the hub flushes on close).
    await relay?.close()
    const stored = await store.load(docId('room'))
    const doc = new Y.Doc()
    for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
    expect(doc.getText('t').toString()).toBe('hello stored!')
  })

  it('messages that arrive before the relay attaches are kept, in order', async () => {
    // The relay gets each socket only after its first message (the client's sync step 1) arrived: a stock client
    // is synced only if that step 1 was kept for the relay.
    const url = await serve(new MemoryDocStore(), (ws, accept) => ws.once('message', () => accept()))
    const a = stockClient(url, 'room')
    clients.push(a)
    await a.synced()
  })

  it('RELAY-5.1: a text message closes the ws connection with MalformedMessage; the room carries on', async () => {
    const url = await serve()
    const a = stockClient(url, 'room')
    clients.push(a)
    await a.synced()
    const raw = new WebSocket(`${url}/room`)
    await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject))
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)))
    raw.send('not binary')
    expect(await closed).toBe(CloseCode.MalformedMessage)
    const b = stockClient(url, 'room')
    clients.push(b)
    await b.synced()
    a.doc.getText('t').insert(0, 'still')
    await textEquals(b.doc, 'still')
  })
})
