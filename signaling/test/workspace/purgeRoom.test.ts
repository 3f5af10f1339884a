import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { pino } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { CloseCode, docId } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { createWeftRelay, RoomGrant, WsRelaySocket } from '../../src/index.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'
import { DAY, seededWorkspaceStore as seededStore } from './seededWorkspace.js'

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []
const stock: StockClient[] = []
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  for (const fn of cleanups.splice(0)) await fn()
  await srv?.close()
  srv = null
})

/** The relay knows team's tombstones once a workspace socket's SUBSCRIBE to `gone` was refused. */
const tombstonesKnown = async (url: string): Promise<void> => {
  const ws = await WorkspaceTestClient.open(`${url}/workspace/team`)
  clients.push(ws)
  ws.subscribe('gone')
  await ws.next((f: WorkspaceFrame) => f.kind === 'refused' && f.doc === 'gone')
}

/** A y-websocket message: sync update `update` (what a stock client sends for a local change). */
/** Opens `url`, sends `message` once open, and resolves with the close code and reason. */
const closeOf = (url: string, message: Uint8Array): Promise<[number, string]> =>
  new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('open', () => ws.send(message))
    ws.on('error', () => undefined)
    ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()]))
  })

const syncUpdate = (update: Uint8Array): Uint8Array => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 0)
  syncProtocol.writeUpdate(enc, update)
  return encoding.toUint8Array(enc)
}

describe('the per-room endpoint and deleted workspace documents', () => {
  it('WS-PURGE-8: a connection to /relay/W/D of a document past its retention is closed Forbidden (document deleted) before it stores anything; other documents are served', async () => {
    srv = await startTestServer({ store: await seededStore(), workspaceRetention: DAY })
    await tombstonesKnown(srv.ws)
    // A stock-style client that kept `gone` offline writes it back as soon as the socket opens.
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'written back through /relay')
    const [code, reason] = await closeOf(`${srv.ws}/relay/team/gone`, syncUpdate(Y.encodeStateAsUpdate(doc)))
    expect([code, reason]).toEqual([CloseCode.Forbidden, 'document deleted'])
    expect(await srv.store.load(docId('team/gone'))).toBeNull()
    expect(await srv.store.list()).not.toContain('team/gone')

    const live = stockClient(`${srv.ws}/relay`, 'team/live')
    stock.push(live)
    await textEquals(live.doc, 'text of live')
  })

  it('WS-PURGE-1, WS-PURGE-8: createWeftRelay applies its workspaceRetention; a socket handed to accept({ room }) for a document past it is closed Forbidden too', async () => {
    const store = await seededStore()
    const relay = createWeftRelay({
      store,
      logger: pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' }),
      commitWindowMs: 5,
      workspaceRetention: DAY,
    })
    await relay.start()
    const server = createServer()
    const wss = new WebSocketServer({ server })
    wss.on('connection', (ws, req) => {
      const path = (req.url ?? '/').slice(1)
      const grant = RoomGrant.open()
      const socket = new WsRelaySocket(ws)
      if (path === 'workspace/team') relay.accept(socket, { workspace: 'team', grant })
      else relay.accept(socket, { room: path, grant })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    const url = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    cleanups.push(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()))
      await relay.close()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await store.close()
    })
    // Also: createWeftRelay honours its workspaceRetention (it was dropped, and the default 30 days applied).
    await tombstonesKnown(url)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'written back through accept()')
    const closed = await closeOf(`${url}/team/gone`, syncUpdate(Y.encodeStateAsUpdate(doc)))
    expect(closed).toEqual([CloseCode.Forbidden, 'document deleted'])
    expect(await store.load(docId('team/gone'))).toBeNull()
  })
})
