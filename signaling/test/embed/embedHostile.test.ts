/**
 * The embedded relay (createWeftRelay) against a client with a valid token that misbehaves, and against an app's
 * slow or hanging hooks: what one connection can hold, and what a shutdown leaves behind.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { PassThrough } from 'node:stream'
import { pino, type Logger } from 'pino'
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { encodeEpochRecord, startEpoch } from '@weft/core/epochs'
import { encodeAwareness, encodeEpochOffer } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { Registry } from 'prom-client'
import WebSocket from 'ws'
import { createWeftRelay, RoomGrant, type WeftHooks, type WeftRelayOptions } from '@weft/signaling'
import { deferred } from '../helpers/GatedStore.js'
import { textEquals } from '../helpers/stockClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'
import { nodeHttpApp, type EmbeddingApp } from './examples.js'

type LogLine = Record<string, unknown> & { msg?: string }

let app: EmbeddingApp | null = null
let store: DocStore | null = null
let lines: LogLine[] = []
const cleanups: Array<() => void> = []

afterEach(async () => {
  for (const fn of cleanups.splice(0)) fn()
  await app?.close()
  app = null
  await store?.close()
  store = null
  lines = []
})

const capture = (): Logger =>
  pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) })

const start = async (hooks: WeftHooks, options: Partial<WeftRelayOptions> = {}): Promise<EmbeddingApp> => {
  store = new SqliteDocStore({ path: ':memory:' })
  app = await nodeHttpApp({ store, logger: capture(), commitWindowMs: 5, hooks, ...options })
  return app
}

/** An update inserting `text` (from a Yjs client of its own). */
const textUpdate = (text: string): Uint8Array => {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

describe('hooks under a hostile writer', () => {
  it('HOOK-3.6: a writer pushing updates while onUpdate is pending is closed with RateLimited once it holds more than maxRelayMessageBytes; none is stored', async () => {
    const gate = deferred()
    const entered = deferred()
    let calls = 0
    const a = await start(
      {
        onUpdate: async () => {
          calls++
          entered.resolve()
          await gate.promise
        },
      },
      { limits: { maxRelayMessageBytes: 1024 * 1024 } },
    )
    const writer = await WeftTestClient.open(`${a.relayUrl}/r`)
    await writer.next('sync-step2')
    writer.sendUpdate(textUpdate('first'))
    await entered.promise
    // 200 KB each: the sixth passes the 1 MiB bound while the hook still decides the first.
    const big = 'x'.repeat(200 * 1024)
    for (let i = 0; i < 8; i++) writer.sendUpdate(textUpdate(big))
    expect((await writer.client.closed).code).toBe(CloseCode.RateLimited)
    expect(lines.some((l) => l.msg === 'updates waiting for the onUpdate hook exceed their bound')).toBe(true)
    gate.resolve()
    await a.relay.close()
    expect(calls).toBe(1)
    expect(await store!.load(docId('r'))).toBeNull()
  })
})

describe('hooks and a large update', () => {
  it('HOOK-3.6: one update may always wait behind the one being decided, however large: both are stored and acknowledged', async () => {
    const gate = deferred()
    const entered = deferred()
    const a = await start(
      {
        onUpdate: async ({ update }) => {
          if (update.byteLength < 500 * 1024) {
            entered.resolve()
            await gate.promise
          }
        },
      },
      { limits: { maxRelayMessageBytes: 1024 * 1024 } },
    )
    const writer = await WeftTestClient.open(`${a.relayUrl}/r`)
    await writer.next('sync-step2')
    writer.sendUpdate(textUpdate('a'.repeat(300 * 1024)))
    await entered.promise
    const seq = writer.sendUpdate(textUpdate('b'.repeat(900 * 1024)))
    // Presence after it on the same socket, echoed to the sender: once back, the large update waits at the relay.
    const presence = new awarenessProtocol.Awareness(new Y.Doc())
    cleanups.push(() => presence.destroy())
    presence.setLocalState({ user: 'writer' })
    writer.client.send(
      encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(presence, [presence.clientID])),
    )
    await writer.next('awareness')
    expect(writer.client.ws.readyState).toBe(writer.client.ws.OPEN)
    gate.resolve()
    expect(await writer.ackAtLeast(seq)).toBeGreaterThanOrEqual(seq)
  })
})

describe('onUpdate cannot be bypassed', () => {
  it('HOOK-3.7: with an onUpdate hook, an epoch offer (whose record and catch-up would become the document) is ignored: content the hook refuses never gets in that way', async () => {
    const a = await start({
      onUpdate: ({ update }) =>
        Buffer.from(update).includes('evil') ? { ok: false, reason: 'no evil' } : undefined,
    })
    const writer = await WeftTestClient.open(`${a.relayUrl}/x`)
    await writer.next('sync-step2')
    await writer.ackAtLeast(writer.sendUpdate(textUpdate('content')))
    const attacker = await WeftTestClient.open(`${a.relayUrl}/x`)
    await attacker.next('sync-step2')
    await textEquals(attacker.doc, 'content')
    // The attacker's own epoch: its state with what the hook would refuse, and that as the catch-up.
    const evil = new Y.Doc()
    Y.applyUpdate(evil, Y.encodeStateAsUpdate(attacker.doc))
    evil.getText('t').insert(0, 'evil ')
    const catchUp = Y.encodeStateAsUpdate(evil, Y.encodeStateVector(attacker.doc))
    attacker.client.send(encodeEpochOffer(encodeEpochRecord(startEpoch(evil).record), catchUp))
    // Handled in order: once an update sent after the offer is acknowledged, the offer was seen.
    await attacker.ackAtLeast(attacker.sendUpdate(textUpdate('fine')))
    // close() waits for a switch the offer would have started.
    await a.relay.close()
    const stored = await store!.load(docId('x'))
    const doc = new Y.Doc()
    if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
    for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
    expect(doc.getText('t').toString()).not.toContain('evil')
    expect(stored?.meta['epoch']).toBeUndefined()
    expect(lines.some((l) => l.msg === 'epoch offer ignored: the onUpdate hook screens every change')).toBe(
      true,
    )
  })
})

describe('shutdown with hooks pending', () => {
  it('EMBED-2: close() while an authenticate hook hangs answers the waiting upgrade 503 at once; the hook settling later changes nothing', async () => {
    const entered = deferred()
    const gate = deferred()
    const a = await start({
      authenticate: async () => {
        entered.resolve()
        await gate.promise
        return { ok: true, grant: RoomGrant.open() }
      },
    })
    const ws = new WebSocket(`${a.relayUrl}/r`)
    const status = new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', () => undefined)
    })
    await entered.promise
    await a.relay.close()
    expect(await status).toBe(503)
    gate.resolve()
  })

  it('EMBED-2: close() twice, and attach to two servers: both serve, one close() ends the connections of both', async () => {
    store = new SqliteDocStore({ path: ':memory:' })
    const relay = createWeftRelay({ store, logger: capture(), commitWindowMs: 5, path: '/collab' })
    const servers = [createServer(), createServer()]
    const urls: string[] = []
    for (const server of servers) {
      relay.attach(server)
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const address = server.address()
      urls.push(`ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/collab/r`)
    }
    cleanups.push(() => {
      for (const server of servers) {
        server.closeAllConnections()
        server.close()
      }
    })
    const clients = await Promise.all(urls.map((url) => WeftTestClient.open(url)))
    await Promise.all(clients.map((c) => c.next('sync-step2')))
    await Promise.all([relay.close(), relay.close()])
    for (const c of clients) expect((await c.client.closed).code).toBe(CloseCode.ServerShutdown)
    await relay.close()
  })
})

describe('the app that embeds the relay', () => {
  it('EMBED-2: a second close() waits for the first shutdown: every accepted update is stored when either resolves', async () => {
    const a = await start({}, { commitWindowMs: 60_000 })
    const writer = await WeftTestClient.open(`${a.relayUrl}/r`)
    await writer.next('sync-step2')
    const reader = await WeftTestClient.open(`${a.relayUrl}/r`)
    await reader.next('sync-step2')
    writer.sendUpdate(textUpdate('kept'))
    await reader.next('sync-update')
    void a.relay.close()
    // The commit window is a minute: only the shutdown writes it, and the second call must wait for that.
    await a.relay.close()
    const stored = await store!.load(docId('r'))
    expect(stored?.updates.length ?? 0).toBeGreaterThan(0)
  })

  it("HTTP-2.2: a closed relay's metrics leave the app's registry (a new relay can register there); two live relays on one registry fail at creation with a WeftServerError that says why", async () => {
    const registry = new Registry()
    const storeOf = new SqliteDocStore({ path: ':memory:' })
    cleanups.push(() => void storeOf.close())
    const first = createWeftRelay({ store: storeOf, logger: capture(), metrics: { registry } })
    await first.start()
    expect(() => createWeftRelay({ store: storeOf, logger: capture(), metrics: { registry } })).toThrow(
      /another Weft relay/,
    )
    await first.close()
    expect(await registry.metrics()).not.toContain('weft_')
    const second = createWeftRelay({ store: storeOf, logger: capture(), metrics: { registry } })
    await second.start()
    expect(await registry.metrics()).toContain('weft_relay_docs_loaded 0')
    await second.close()
  })
})

/** Sends one upgrade request for `target` over a raw TCP socket; resolves with the response's status line. */
const statusOf = (port: number, target: string, extra: Record<string, string> = {}, version = '1.1') =>
  new Promise<string>((resolve, reject) => {
    const headers: Record<string, string> = {
      Host: '127.0.0.1',
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      ...extra,
    }
    const socket = connect(port, '127.0.0.1', () => {
      const lines = Object.entries(headers)
        .filter(([, v]) => v !== '')
        .map(([k, v]) => `${k}: ${v}`)
      socket.write(`GET ${target} HTTP/${version}\r\n${lines.join('\r\n')}\r\n\r\n`)
    })
    let data = ''
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      const end = data.indexOf('\r\n')
      if (end < 0) return
      resolve(data.slice(0, end))
      socket.destroy()
    })
    socket.on('error', reject)
  })

describe('handleUpgrade and hostile paths (EMBED-1)', () => {
  it('EMBED-1: the relay matches the raw path: //host/collab/r, /collab\\r and /x/%2e%2e/collab/r are not its rooms (a proxy routing on the raw path sees another path)', () => {
    const relay = createWeftRelay({
      store: new SqliteDocStore({ path: ':memory:' }),
      logger: capture(),
      path: '/collab',
    })
    cleanups.push(() => void relay.close())
    const request = (url: string) =>
      ({
        url,
        method: 'GET',
        headers: {
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      }) as unknown as IncomingMessage
    for (const url of [
      '//evil/collab/r',
      '/collab\\r',
      '/x/%2e%2e/collab/r',
      '/x/../collab/r',
      '/collab..',
      '/collab%2Fr',
    ]) {
      const socket = new PassThrough()
      expect([url, relay.handleUpgrade(request(url), socket, Buffer.alloc(0))]).toEqual([url, false])
      expect(socket.listenerCount('error')).toBe(0)
    }
  })

  it('EMBED-1: a path under the relay that names no valid room gets 404, a request without a key 400, an HTTP/1.1 upgrade with a good key is served', async () => {
    const a = await start({})
    const port = Number(new URL(a.http).port)
    expect(await statusOf(port, '/collab/')).toBe('HTTP/1.1 404 Not Found')
    expect(await statusOf(port, '/collab/%ZZ')).toBe('HTTP/1.1 404 Not Found')
    expect(await statusOf(port, `/collab/${'r'.repeat(513)}`)).toBe('HTTP/1.1 404 Not Found')
    expect(await statusOf(port, '/collab/r', { 'Sec-WebSocket-Key': '' })).toBe('HTTP/1.1 400 Bad Request')
    expect(await statusOf(port, '/collab/r', { 'Sec-WebSocket-Version': '8' })).toBe(
      'HTTP/1.1 426 Upgrade Required',
    )
    expect(await statusOf(port, '/collab/r')).toBe('HTTP/1.1 101 Switching Protocols')
    expect(await statusOf(port, 'http://127.0.0.1/collab/r')).toBe('HTTP/1.1 101 Switching Protocols')
  })
})

describe('misuse by the embedding app', () => {
  it("EMBED-1: a relay attached twice to one server (or attached and called from the app's own upgrade listener) answers each upgrade once; clients sync", async () => {
    const a = await start({})
    a.relay.attach(a.server)
    a.server.on('upgrade', (req, socket, head) => a.relay.handleUpgrade(req, socket, head))
    const one = await WeftTestClient.open(`${a.relayUrl}/r`)
    const two = await WeftTestClient.open(`${a.relayUrl}/r`)
    await Promise.all([one.next('sync-step2'), two.next('sync-step2')])
    await one.ackAtLeast(one.sendUpdate(textUpdate('once')))
    await textEquals(two.doc, 'once')
  })
})

describe('auth on the embedded path (AUTH-7)', () => {
  it('AUTH-7, HOOK-1: a grant that expires while an async authenticate hook still runs is refused with TokenExpired; nothing is served', async () => {
    let grants = 0
    const a = await start({
      authenticate: async () => {
        const grant = new RoomGrant({ r: 'write' }, Date.now() + 1)
        grants++
        // The hook takes longer than the grant lasts (a slow session lookup).
        const until = Date.now() + 2
        while (Date.now() <= until) await Promise.resolve()
        return { ok: true, grant }
      },
    })
    const ws = new WebSocket(`${a.relayUrl}/r`)
    const messages: Buffer[] = []
    ws.on('message', (data: Buffer) => messages.push(data))
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)))
    expect(code).toBe(CloseCode.TokenExpired)
    expect(messages).toEqual([])
    expect(grants).toBe(1)
    expect(a.relay.metrics.get('weft_connections_total', { endpoint: 'relay' })).toBe(0)
  })
})

describe('a hanging authenticate hook', () => {
  it('HOOK-1.5: an authenticate hook that has not decided within headersTimeoutMs gets the upgrade answered 503; its late grant is ignored and nothing is counted', async () => {
    const gate = deferred()
    const entered = deferred()
    const a = await start(
      {
        authenticate: async () => {
          entered.resolve()
          await gate.promise
          return { ok: true, grant: RoomGrant.open() }
        },
      },
      { limits: { headersTimeoutMs: 200 } },
    )
    const ws = new WebSocket(`${a.relayUrl}/r`)
    const status = new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', () => undefined)
    })
    await entered.promise
    expect(await status).toBe(503)
    expect(lines.some((l) => l.msg === 'no auth decision in time: upgrade refused')).toBe(true)
    gate.resolve()
    // The late decision changes nothing: the relay closes without a connection to close.
    await a.relay.close()
    expect(a.relay.metrics.get('weft_connections_total', { endpoint: 'relay' })).toBe(0)
  })
})
