/**
 * EMBED-5: the workspace form of `WeftRelay.accept`: an app that runs its own `ws` server hands a workspace socket to
 * the relay, which serves it as an upgrade to `<workspacePath>/<W>` (WS-RELAY-*), through the public API only.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { pino } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { CloseCode, type DocStore } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftRelay, RoomGrant, WsRelaySocket, type WeftRelay } from '@weft/signaling'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { WorkspaceTestClient } from '../workspace/WorkspaceTestClient.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
const cleanups: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const memoryStore = (): DocStore => {
  const store = new SqliteDocStore({ path: ':memory:' })
  cleanups.push(() => store.close())
  return store
}

/**
 * The app's own `ws` server: `/ws/<W>` is handed to the relay as workspace `W`, `/room/<room>` as a room, each with
 * `grant`. Returns its base URL.
 */
const appServer = async (relay: WeftRelay, grant: RoomGrant): Promise<string> => {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    const path = decodeURIComponent(req.url ?? '/')
    const socket = new WsRelaySocket(ws)
    if (path.startsWith('/ws/')) relay.accept(socket, { workspace: path.slice(4), grant })
    else relay.accept(socket, { room: path.slice(6), grant })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    await relay.close()
    wss.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  return `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
}

const workspaceClient = async (url: string): Promise<WorkspaceTestClient> => {
  const client = await WorkspaceTestClient.open(url)
  cleanups.push(() => client.close())
  return client
}

const stock = (url: string, room: string): StockClient => {
  const client = stockClient(url, room)
  cleanups.push(() => client.destroy())
  return client
}

const refusedFor =
  (doc: string) =>
  (f: WorkspaceFrame): boolean =>
    f.kind === 'refused' && f.doc === doc

describe('accept({ workspace })', () => {
  it('EMBED-5: a handed-over workspace socket carries several documents, each the room W/D a handed-over room socket sees', async () => {
    const relay = createWeftRelay({ store: memoryStore(), logger: quiet })
    const url = await appServer(relay, RoomGrant.open())
    const ws = await workspaceClient(`${url}/ws/team`)
    ws.subscribe('notes').getText('t').insert(0, 'notes over the workspace socket')
    ws.subscribe('todo').getText('t').insert(0, 'todo over the workspace socket')

    const notes = stock(`${url}/room`, 'team/notes')
    const todo = stock(`${url}/room`, 'team/todo')
    await textEquals(notes.doc, 'notes over the workspace socket')
    await textEquals(todo.doc, 'todo over the workspace socket')
    todo.doc.getText('t').insert(0, '> ')
    await ws.text('todo', '> todo over the workspace socket')
    // The change sequence is pushed on the handed-over socket too (WS-RELAY-6).
    await ws.next((f) => f.kind === 'changed' && f.doc === 'todo')
  })

  it("EMBED-5: access is decided per document from the app's grant; an invalid workspace id is refused with Forbidden", async () => {
    const relay = createWeftRelay({ store: memoryStore(), logger: quiet })
    const url = await appServer(relay, new RoomGrant({ 'team/open': 'write' }))
    const ws = await workspaceClient(`${url}/ws/team`)
    ws.subscribe('secret')
    expect((await ws.next(refusedFor('secret'))).frame).toMatchObject({ code: CloseCode.Forbidden })
    ws.subscribe('open').getText('t').insert(0, 'granted')
    await ws.next((f) => f.kind === 'changed' && f.doc === 'open')
    expect(ws.ws.readyState).toBe(WebSocket.OPEN)

    // `a/b` names no workspace (WS-WIRE-3): the socket is closed with Forbidden, as an invalid room is.
    const bad = new WebSocket(`${url}/ws/${encodeURIComponent('a/b')}`)
    bad.on('error', () => undefined)
    const [code] = (await once(bad, 'close')) as [number]
    expect(code).toBe(CloseCode.Forbidden)
  })

  it('EMBED-5: a room and a workspace together, or a workspace without the workspace endpoint, are programming errors', () => {
    const fake = { open: true } as unknown as WsRelaySocket
    const relay = createWeftRelay({ store: memoryStore(), logger: quiet })
    expect(() => relay.accept(fake, { room: 'a/b', workspace: 'a', grant: RoomGrant.open() })).toThrow(
      /room or a workspace/,
    )
    const noEndpoint = createWeftRelay({ store: memoryStore(), logger: quiet, workspacePath: false })
    expect(() => noEndpoint.accept(fake, { workspace: 'a', grant: RoomGrant.open() })).toThrow(
      /workspacePath/,
    )
  })
})
