/**
 * EMBED-4: the app runs its own `ws` WebSocketServer and hands authenticated sockets to the relay through the public
 * API only (`WeftRelay.accept`, `WsRelaySocket`, `RoomGrant` from `@weft/signaling`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { pino } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import {
  createWeftRelay,
  RoomGrant,
  WsRelaySocket,
  type ConnectionContext,
  type WeftRelay,
} from '@weft/signaling'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { byoWebSocketApp, type EmbeddingApp } from './examples.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
let apps: EmbeddingApp[] = []
let clients: StockClient[] = []
let stores: DocStore[] = []
const cleanups: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const c of clients) c.destroy()
  clients = []
  for (const fn of cleanups.splice(0)) await fn()
  for (const app of apps) await app.close()
  apps = []
  for (const s of stores) await s.close()
  stores = []
})

const memoryStore = (): DocStore => {
  const store = new SqliteDocStore({ path: ':memory:' })
  stores.push(store)
  return store
}

const storedText = async (store: DocStore, room: string): Promise<string> => {
  const stored = await store.load(docId(room))
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

/** The close code a plain `ws` client gets at `url`. */
const closeCodeAt = (url: string): Promise<number> =>
  new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('close', (code) => resolve(code))
    ws.on('error', () => undefined)
  })

/**
 * A relay fed by a `ws` server of the test's own on a free port: `grantOf(room)` is the app's auth decision for each
 * socket; the relay's own options are `options`.
 */
const ownServer = async (
  relay: WeftRelay,
  grantOf: (room: string) => RoomGrant,
): Promise<{ url: string; close(): Promise<void> }> => {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    const room = (req.url ?? '/').slice(1)
    relay.accept(new WsRelaySocket(ws), { room, grant: grantOf(room), clientAddress: '10.0.0.1' })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      await relay.close()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('bring your own WebSocket server (EMBED-4)', () => {
  it('EMBED-4: a ws WebSocketServer hands sockets to relay.accept; two stock y-websocket clients sync, edits are stored, close() ends them with ServerShutdown', async () => {
    const store = memoryStore()
    const app = await byoWebSocketApp({ store, logger: quiet, commitWindowMs: 5, path: '/collab' })
    apps.push(app)
    const a = stockClient(app.relayUrl, 'notes', { params: { session: 't-alice' } })
    const b = stockClient(app.relayUrl, 'notes', { params: { session: 't-bob' } })
    clients.push(a, b)
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'hello from a')
    await textEquals(b.doc, 'hello from a')
    b.doc.getText('t').insert(0, '> ')
    await textEquals(a.doc, '> hello from a')
    const closed = new Promise<number>((resolve) =>
      a.provider.ws?.addEventListener('close', (e) => resolve((e as CloseEvent).code)),
    )
    await app.relay.close()
    expect(await closed).toBe(CloseCode.ServerShutdown)
    expect(await storedText(store, 'notes')).toBe('> hello from a')
  })

  it('EMBED-4: the relay keeps the auth rules of a handed-over socket: a room the grant does not name is Forbidden, an expired grant TokenExpired, a bad room name Forbidden', async () => {
    const store = memoryStore()
    const relay = createWeftRelay({ store, logger: quiet, commitWindowMs: 5 })
    const grants: Record<string, RoomGrant> = {
      other: new RoomGrant({ notes: 'write' }),
      expired: new RoomGrant({ expired: 'write' }, Date.now() - 1),
    }
    const own = await ownServer(relay, (room) => grants[room] ?? new RoomGrant({ '*': 'write' }))
    cleanups.push(() => own.close())
    expect(await closeCodeAt(`${own.url}/other`)).toBe(CloseCode.Forbidden)
    expect(await closeCodeAt(`${own.url}/expired`)).toBe(CloseCode.TokenExpired)
    expect(await closeCodeAt(`${own.url}/${'x'.repeat(600)}`)).toBe(CloseCode.Forbidden)
    expect(await closeCodeAt(`${own.url}/`)).toBe(CloseCode.Forbidden)
  })

  it('EMBED-4: an accepted socket ends when its grant does (TokenExpired); the hooks see the app-given address; onDisconnect follows', async () => {
    const store = memoryStore()
    const seen: string[] = []
    const gone: ConnectionContext[] = []
    const relay = createWeftRelay({
      store,
      logger: quiet,
      commitWindowMs: 5,
      hooks: {
        onConnect: ({ clientAddress, subject }) => void seen.push(`${subject ?? ''}@${clientAddress}`),
        onDisconnect: (ctx) => void gone.push(ctx),
      },
    })
    const own = await ownServer(relay, () => new RoomGrant({ r: 'write' }, Date.now() + 300, 'carol'))
    cleanups.push(() => own.close())
    expect(await closeCodeAt(`${own.url}/r`)).toBe(CloseCode.TokenExpired)
    expect(seen).toEqual(['carol@10.0.0.1'])
    await relay.close()
    expect(gone.map((c) => c.subject)).toEqual(['carol'])
  })

  it('EMBED-4: a socket handed over after close() is closed with ServerShutdown', async () => {
    const store = memoryStore()
    const relay = createWeftRelay({ store, logger: quiet })
    await relay.start()
    const own = await ownServer(relay, () => RoomGrant.open())
    cleanups.push(() => own.close())
    await relay.close()
    expect(await closeCodeAt(`${own.url}/r`)).toBe(CloseCode.ServerShutdown)
  })

  it('EMBED-4: accept() without a RoomGrant throws (the app must decide who the client is)', () => {
    const relay = createWeftRelay({ store: memoryStore(), logger: quiet })
    const fake = { open: true } as unknown as WsRelaySocket
    expect(() => relay.accept(fake, { room: 'r', grant: {} as RoomGrant })).toThrow(/RoomGrant/)
  })
})
