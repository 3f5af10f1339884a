import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftRelay, RoomGrant } from '@weft/signaling'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { expressApp, nodeHttpApp, type EmbeddingApp } from './examples.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
let apps: EmbeddingApp[] = []
let clients: StockClient[] = []
let stores: DocStore[] = []

afterEach(async () => {
  for (const c of clients) c.destroy()
  clients = []
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

const client = (url: string, room: string): StockClient => {
  const c = stockClient(url, room)
  clients.push(c)
  return c
}

/** The text `t` of what `store` holds for `room`. */
const storedText = async (store: DocStore, room: string): Promise<string> => {
  const stored = await store.load(docId(room))
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

/** Two stock y-websocket clients sync through the relay of `app`; their edits are stored. */
const syncTwoStockClients = async (app: EmbeddingApp, store: DocStore): Promise<void> => {
  const a = client(app.relayUrl, 'notes')
  const b = client(app.relayUrl, 'notes')
  await Promise.all([a.synced(), b.synced()])
  a.doc.getText('t').insert(0, 'hello from a')
  await textEquals(b.doc, 'hello from a')
  b.doc.getText('t').insert(0, '> ')
  await textEquals(a.doc, '> hello from a')
  // EMBED-2: close flushes every accepted update to the store.
  await app.relay.close()
  expect(await storedText(store, 'notes')).toBe('> hello from a')
}

describe('the relay embedded in an app server', () => {
  it('EMBED-1: attached to a node:http server, two stock clients sync and their edits are stored; a restart serves them', async () => {
    const store = memoryStore()
    const app = await nodeHttpApp({ store, logger: quiet, commitWindowMs: 5 })
    apps.push(app)
    expect(await (await fetch(`${app.http}/`)).text()).toBe('the app\n')
    await syncTwoStockClients(app, store)

    // A new relay on the same store (the app restarted) serves what was stored.
    const again = await nodeHttpApp({ store, logger: quiet, commitWindowMs: 5 })
    apps.push(again)
    const c = client(again.relayUrl, 'notes')
    await c.synced()
    expect(c.doc.getText('t').toString()).toBe('> hello from a')
  })

  it('EMBED-1: attached to an Express app, stock clients sync; the app keeps its routes', async () => {
    const store = memoryStore()
    const app = await expressApp({ store, logger: quiet, commitWindowMs: 5 })
    apps.push(app)
    expect(await (await fetch(`${app.http}/api/hello`)).json()).toEqual({ hello: 'world' })
    await syncTwoStockClients(app, store)
  })

  it("EMBED-1: upgrades outside the relay's path are left to the app's own WebSocket server", async () => {
    const store = memoryStore()
    const app = await nodeHttpApp({ store, logger: quiet, commitWindowMs: 5 })
    apps.push(app)
    // The app's own WebSocket endpoint, on the same server, beside the relay.
    const wss = new WebSocketServer({ noServer: true })
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${String(data)}`)))
    app.server.on('upgrade', (req, socket, head) => {
      if (req.url === '/app-ws') wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
    const own = await TestClient.open(app.relayUrl.replace('/collab', '/app-ws'))
    own.send('hi')
    expect(String(await own.next())).toBe('echo hi')
    await own.close()
    wss.close()

    // The relay still serves its rooms on the same server.
    const c = client(app.relayUrl, 'r')
    await c.synced()
  })

  it("EMBED-1: handleUpgrade returns false and leaves the socket alone for a path that is not the relay's", async () => {
    const store = memoryStore()
    const relay = createWeftRelay({ store, logger: quiet, path: '/collab' })
    const { createServer } = await import('node:http')
    const server = createServer()
    const wss = new WebSocketServer({ noServer: true })
    wss.on('connection', (ws) => ws.send('the app'))
    const routed: boolean[] = []
    server.on('upgrade', (req, socket, head) => {
      const taken = relay.handleUpgrade(req, socket, head)
      routed.push(taken)
      if (!taken) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    apps.push({
      server,
      relay,
      relayUrl: `ws://127.0.0.1:${port}/collab`,
      http: `http://127.0.0.1:${port}`,
      close: async () => {
        await relay.close()
        wss.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    })
    // A path that only starts like the relay's is not the relay's either.
    for (const path of ['/elsewhere', '/collaborate']) {
      const other = await TestClient.open(`ws://127.0.0.1:${port}${path}`)
      expect(String(await other.next())).toBe('the app')
      await other.close()
    }
    const c = client(`ws://127.0.0.1:${port}/collab`, 'r')
    await c.synced()
    expect(routed).toEqual([false, false, true])
  })

  it('EMBED-2: close() closes every connection with ServerShutdown, flushes, and leaves a given store open', async () => {
    const store = memoryStore()
    const app = await nodeHttpApp({ store, logger: quiet, commitWindowMs: 60_000 })
    apps.push(app)
    const raw = await TestClient.open(`${app.relayUrl}/r`)
    const writer = client(app.relayUrl, 'r')
    await writer.synced()
    writer.doc.getText('t').insert(0, 'kept')
    // The update reached the relay once the raw client sees it forwarded.
    await raw.next((data) => data[0] === 0 && data[1] === 2)
    await app.relay.close()
    expect((await raw.closed).code).toBe(CloseCode.ServerShutdown)
    // The commit window is a minute: only close() can have written it, and the store is still usable.
    expect(await storedText(store, 'r')).toBe('kept')
    // A closed relay refuses upgrades.
    const late = new WebSocket(`${app.relayUrl}/r`)
    const status = await new Promise<number>((resolve) => {
      late.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      late.on('error', () => undefined)
    })
    expect(status).toBe(503)
  })

  it('EMBED-2: a store that cannot open is logged; start() rejects and upgrades are answered 503', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const file = join(mkdtempSync(join(tmpdir(), 'weft-embed-')), 'a-file')
    writeFileSync(file, 'not a directory')
    const lines: string[] = []
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) })
    const app = await nodeHttpApp({ dataDir: join(file, 'data'), logger }).catch((err: unknown) => err)
    expect(app).toBeInstanceOf(Error)
    expect(lines.some((l) => l.includes('the relay could not start'))).toBe(true)
    const relay = createWeftRelay({ dataDir: join(file, 'data'), logger: quiet, path: '/collab' })
    const { createServer } = await import('node:http')
    const server = createServer()
    relay.attach(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    const url = `ws://127.0.0.1:${port}/collab/r`
    const statusOf = () =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url)
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('error', () => undefined)
      })
    // The store cannot open: start() rejects, and from then on upgrades are answered 503.
    await expect(relay.start()).rejects.toThrow()
    expect(await statusOf()).toBe(503)
    await relay.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('EMBED-1: with signalPath, y-webrtc signaling is served there too; the authenticate hook decides it (room null)', async () => {
    const store = memoryStore()
    const seen: Array<string | null> = []
    const app = await nodeHttpApp({
      store,
      logger: quiet,
      signalPath: '/collab-signal',
      hooks: {
        authenticate: ({ endpoint, room, request }) => {
          seen.push(`${endpoint}:${room}`)
          return request.headers.cookie === 'session=ok'
            ? { ok: true, grant: new RoomGrant({ '*': 'write' }) }
            : { ok: false, reason: 'no session' }
        },
      },
    })
    apps.push(app)
    const url = app.relayUrl.replace('/collab', '/collab-signal')
    const refused = await TestClient.open(url)
    expect((await refused.closed).code).toBe(CloseCode.Unauthorized)
    const peer = await TestClient.open(url, undefined, { headers: { cookie: 'session=ok' } })
    peer.sendJson({ type: 'ping' })
    expect(await peer.nextJson((m) => m['type'] === 'pong')).toEqual({ type: 'pong' })
    await peer.close()
    expect(seen).toEqual(['signal:null', 'signal:null'])
  })
})
