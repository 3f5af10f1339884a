import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { type DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftRelay, type WeftRelay } from '@weft/signaling'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
let cleanups: (() => Promise<void>)[] = []
let clients: StockClient[] = []

afterEach(async () => {
  for (const c of clients) c.destroy()
  clients = []
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

const memoryStore = (): DocStore => {
  const store = new SqliteDocStore({ path: ':memory:' })
  cleanups.push(() => store.close())
  return store
}

const newRelay = (store: DocStore): WeftRelay => {
  const relay = createWeftRelay({ store, logger: quiet, commitWindowMs: 5, path: '/relay' })
  cleanups.push(() => relay.close())
  return relay
}

/** A node:http server on an OS port that answers plain requests itself; its base WebSocket URL. */
const listening = async (): Promise<{ server: Server; ws: string }> => {
  const server = createServer((_req, res) => res.end('the app\n'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return { server, ws: `ws://127.0.0.1:${port}` }
}

const client = (url: string, room: string): StockClient => {
  const c = stockClient(url, room)
  clients.push(c)
  return c
}

/** The close code (or the HTTP refusal) a raw WebSocket to `url` ends with. */
const refusal = async (url: string): Promise<string> => {
  try {
    const c = await TestClient.open(url)
    const { code } = await c.closed
    return `closed ${code}`
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

describe('attach(server, { path })', () => {
  it('EMBED-1.1: one relay attached to two servers under two paths serves the same rooms on both', async () => {
    const relay = newRelay(memoryStore())
    const one = await listening()
    const two = await listening()
    relay.attach(one.server, { path: '/collab' })
    relay.attach(two.server, { path: '/editors/sync/' })
    const a = client(`${one.ws}/collab`, 'notes')
    const b = client(`${two.ws}/editors/sync`, 'notes')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'from one')
    await textEquals(b.doc, 'from one')
    b.doc.getText('t').insert(0, 'two and ')
    await textEquals(a.doc, 'two and from one')
  })

  it("EMBED-1.1: each attach takes only its own path: the relay's default path and the other attach's are left to the app", async () => {
    const relay = newRelay(memoryStore())
    const one = await listening()
    const two = await listening()
    relay.attach(one.server, { path: '/collab' })
    relay.attach(two.server)
    // Under its own path the first server serves rooms; the relay's `path` (/relay) is not taken there but left to
    // the app's own listener (EMBED-1), whose answer is the one the client gets.
    one.server.on('upgrade', (req, socket) => {
      if (!req.url?.startsWith('/collab/')) socket.end('HTTP/1.1 418 Not The Relay\r\n\r\n')
    })
    expect(await refusal(`${one.ws}/relay/notes`)).toMatch(/418/)
    // The second server, attached without options, serves at the relay's `path`, not at the first attach's.
    two.server.on('upgrade', (req, socket) => {
      if (!req.url?.startsWith('/relay/')) socket.end('HTTP/1.1 418 Not The Relay\r\n\r\n')
    })
    expect(await refusal(`${two.ws}/collab/notes`)).toMatch(/418/)
    const a = client(`${one.ws}/collab`, 'notes')
    const b = client(`${two.ws}/relay`, 'notes')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'same room')
    await textEquals(b.doc, 'same room')
  })

  it('EMBED-1.1: two paths on one server; detaching one leaves the other; handleUpgrade takes a path too', async () => {
    const relay = newRelay(memoryStore())
    const { server, ws } = await listening()
    const detach = relay.attach(server, { path: '/a' })
    relay.attach(server, { path: '/b' })
    const a = client(`${ws}/a`, 'r')
    const b = client(`${ws}/b`, 'r')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'x')
    await textEquals(b.doc, 'x')
    detach()
    server.on('upgrade', (req, socket) => {
      if (req.url?.startsWith('/a/')) socket.end('HTTP/1.1 418 Not The Relay\r\n\r\n')
    })
    expect(await refusal(`${ws}/a/r`)).toMatch(/418/)
    const c = client(`${ws}/b`, 'r')
    await c.synced()
    expect(c.doc.getText('t').toString()).toBe('x')

    // The app's own dispatcher passes a path per call.
    const other = await listening()
    const routed: boolean[] = []
    other.server.on('upgrade', (req, socket, head) => {
      routed.push(relay.handleUpgrade(req, socket, head, { path: '/mine' }))
      if (!routed.at(-1)) socket.end('HTTP/1.1 418 Not The Relay\r\n\r\n')
    })
    expect(await refusal(`${other.ws}/relay/r`)).toMatch(/418/)
    const d = client(`${other.ws}/mine`, 'r')
    await d.synced()
    expect(d.doc.getText('t').toString()).toBe('x')
    expect(routed).toEqual([false, true])
  })

  it('EMBED-1.1: a path that does not start with "/" is refused when attaching', async () => {
    const relay = newRelay(memoryStore())
    const { server } = await listening()
    expect(() => relay.attach(server, { path: 'collab' })).toThrow(/path must start with "\/"/)
    expect(server.listenerCount('upgrade')).toBe(0)
  })
})
