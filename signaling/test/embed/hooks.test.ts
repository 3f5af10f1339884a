import { afterEach, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import { pino, type Logger } from 'pino'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as awarenessProtocol from 'y-protocols/awareness'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { encodeAwareness, encodeSyncUpdate } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { RoomGrant, type AuthResult, type WeftHooks, type WeftRelayOptions } from '@weft/signaling'
import { deferred } from '../helpers/GatedStore.js'
import { RawWsClient, maskedFrame } from '../helpers/RawWsClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { textEquals } from '../helpers/stockClient.js'
import { TestClient, type Closed } from '../helpers/TestClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'
import { nodeHttpApp, type EmbeddingApp } from './examples.js'

/** One log line as pino writes it. */
type LogLine = Record<string, unknown> & { msg?: string; level?: number }

let app: EmbeddingApp | null = null
let srv: TestServer | null = null
let store: DocStore | null = null
let lines: LogLine[] = []
const cleanups: Array<() => void> = []

afterEach(async () => {
  for (const fn of cleanups.splice(0)) fn()
  await app?.close()
  app = null
  await srv?.close()
  srv = null
  await store?.close()
  store = null
  lines = []
})

/** A logger whose lines the test reads. */
const capture = (): Logger =>
  pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) })

/** Starts an app server with the relay at `/collab`, these hooks and an in-memory store. */
const start = async (hooks: WeftHooks, options: Partial<WeftRelayOptions> = {}): Promise<EmbeddingApp> => {
  store = new SqliteDocStore({ path: ':memory:' })
  app = await nodeHttpApp({ store, logger: capture(), commitWindowMs: 5, hooks, ...options })
  return app
}

/** HOOK-1's example: a session cookie names the user; alice may write `notes-*`, mallory too, bob only read. */
const sessions: Record<string, { user: string; rooms: Record<string, 'read' | 'write'> }> = {
  s1: { user: 'alice', rooms: { 'notes-*': 'write' } },
  s2: { user: 'mallory', rooms: { 'notes-*': 'write' } },
  s3: { user: 'bob', rooms: { 'notes-*': 'read' } },
}
const cookieAuth = ({ request }: { request: { headers: { cookie?: string | undefined } } }): AuthResult => {
  const sid = /(?:^|;\s*)session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
  const session = sid === undefined ? undefined : sessions[sid]
  if (!session) return { ok: false, reason: 'no session' }
  return { ok: true, grant: new RoomGrant(session.rooms, undefined, session.user) }
}

/** A stock y-websocket client that sends a session cookie with its upgrade. */
const stockWithCookie = (url: string, room: string, sid: string) => {
  class CookieWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers: { cookie: `session=${sid}` } })
    }
  }
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: CookieWebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    maxBackoffTime: 100,
  })
  cleanups.push(() => {
    provider.destroy()
    doc.destroy()
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    provider.on('connection-close', (event) => {
      if (event) resolve({ code: event.code, reason: event.reason })
    })
  })
  const synced = new Promise<void>((resolve) => provider.once('sync', () => resolve()))
  return { doc, provider, closed, synced }
}

/** A raw connection with a cookie; resolves with how the relay closed it. */
const refusedWith = async (url: string, sid?: string): Promise<Closed> => {
  const c = await TestClient.open(url, undefined, sid ? { headers: { cookie: `session=${sid}` } } : {})
  return c.closed
}

const storedText = async (room: string): Promise<string> => {
  const stored = await store?.load(docId(room))
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

const logged = (msg: string) => lines.filter((l) => l.msg === msg)

describe('authenticate (HOOK-1)', () => {
  it('HOOK-1.1: a session cookie grants rooms; a stock client with it syncs, the hook sees the request', async () => {
    const seen: unknown[] = []
    const a = await start({
      authenticate: (ctx) => {
        seen.push({ endpoint: ctx.endpoint, room: ctx.room, jwt: ctx.jwt, client: ctx.clientAddress })
        return cookieAuth(ctx)
      },
    })
    const alice = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    const other = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    await Promise.all([alice.synced, other.synced])
    alice.doc.getText('t').insert(0, 'by cookie')
    await textEquals(other.doc, 'by cookie')
    expect(seen[0]).toEqual({ endpoint: 'relay', room: 'notes-1', jwt: null, client: '127.0.0.1' })
  })

  it('HOOK-1.2: a refusal closes with Unauthorized, a room outside the grant with Forbidden; no connection is made', async () => {
    let connects = 0
    const a = await start({ authenticate: cookieAuth, onConnect: () => void connects++ })
    expect((await refusedWith(`${a.relayUrl}/notes-1`)).code).toBe(CloseCode.Unauthorized)
    expect((await refusedWith(`${a.relayUrl}/notes-1`, 'nope')).code).toBe(CloseCode.Unauthorized)
    expect((await refusedWith(`${a.relayUrl}/secret`, 's1')).code).toBe(CloseCode.Forbidden)
    expect(connects).toBe(0)
  })

  it('HOOK-1.3: a throwing authenticate closes with InternalError and logs a line; the relay keeps serving', async () => {
    const a = await start({
      authenticate: (ctx) => {
        if (ctx.request.headers.cookie === undefined) throw new Error('session store down')
        return cookieAuth(ctx)
      },
    })
    expect((await refusedWith(`${a.relayUrl}/notes-1`)).code).toBe(CloseCode.InternalError)
    expect(logged('authenticate hook failed')).toHaveLength(1)
    const alice = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    await alice.synced
  })

  it('HOOK-1.4: with JWT settings the hook gets the verdict (ctx.jwt) and decides: a token or a cookie', async () => {
    const secret = 'a-secret-of-at-least-thirty-two-bytes!!'
    const a = await start(
      { authenticate: (ctx) => (ctx.jwt?.ok ? ctx.jwt : cookieAuth(ctx)) },
      { auth: { secret } },
    )
    const token = await new SignJWT({ rooms: { 'notes-1': 'write' } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret))
    const byToken = await TestClient.open(`${a.relayUrl}/notes-1?token=${token}`)
    await byToken.next() // the relay's greeting: accepted
    await byToken.close()
    const byCookie = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    await byCookie.synced
    expect((await refusedWith(`${a.relayUrl}/notes-1`)).code).toBe(CloseCode.Unauthorized)
  })

  it('HOOK-1, AUTH-7: updates pipelined behind the upgrade wait for the hook; refused, none of them is stored', async () => {
    const gate = deferred()
    const entered = deferred()
    const a = await start({
      authenticate: async () => {
        entered.resolve()
        await gate.promise
        return { ok: false, reason: 'no session' }
      },
    })
    const port = Number(new URL(a.http).port)
    const frames = ['one', 'two'].map((text) => {
      const d = new Y.Doc()
      d.getText('t').insert(0, text)
      return maskedFrame(0x2, encodeSyncUpdate(Y.encodeStateAsUpdate(d)))
    })
    const raw = await RawWsClient.connect(port, '')
    cleanups.push(() => raw.destroy())
    raw.send(Buffer.concat([Buffer.from(RawWsClient.request('/collab/piped'), 'latin1'), ...frames]))
    await entered.promise
    gate.resolve()
    expect((await raw.response()).status).toBe(101)
    const close = await raw.frameOf(0x8)
    expect(close?.payload.readUInt16BE(0)).toBe(CloseCode.Unauthorized)
    await raw.ended
    await a.relay.close()
    expect(await store!.load(docId('piped'))).toBeNull()
  })

  it('EMBED-3, AUTH-9: createWeftServer takes the same hooks; /healthz reports auth "hook"', async () => {
    store = new SqliteDocStore({ path: ':memory:' })
    srv = await startTestServer({ store, hooks: { authenticate: cookieAuth } })
    expect(await (await fetch(`${srv.http}/healthz`)).json()).toMatchObject({ auth: 'hook' })
    expect((await refusedWith(`${srv.ws}/relay/notes-1`)).code).toBe(CloseCode.Unauthorized)
    const alice = stockWithCookie(`${srv.ws}/relay`, 'notes-1', 's1')
    await alice.synced
  })
})

describe('onLoad (HOOK-2)', () => {
  it('HOOK-2.1: runs after the store load and before anyone is answered', async () => {
    const gate = deferred()
    const entered = deferred<{ room: string; clock: number; bytes: number }>()
    const a = await start({
      onLoad: async (ctx) => {
        entered.resolve(ctx)
        await gate.promise
      },
    })
    const seed = new Y.Doc()
    seed.getText('t').insert(0, 'stored before')
    const clock = await store!.append(docId('notes-1'), Y.encodeStateAsUpdate(seed))
    const c = await WeftTestClient.open(`${a.relayUrl}/notes-1`)
    const ctx = await entered.promise
    expect(ctx).toMatchObject({ room: 'notes-1', clock })
    expect(ctx.bytes).toBeGreaterThan(0)
    expect(c.received).toEqual([]) // nothing answered while the hook runs
    gate.resolve()
    await c.next('sync-step2')
    expect(c.doc.getText('t').toString()).toBe('stored before')
    await c.client.close()
  })

  it('HOOK-2.2: a throwing onLoad closes the waiting connection with InternalError; the next one loads again', async () => {
    let calls = 0
    const a = await start({
      onLoad: () => {
        if (++calls === 1) throw new Error('not today')
      },
    })
    expect((await refusedWith(`${a.relayUrl}/notes-1`)).code).toBe(CloseCode.InternalError)
    expect(logged('onLoad hook failed')).toHaveLength(1)
    const c = await WeftTestClient.open(`${a.relayUrl}/notes-1`)
    await c.next('sync-step2')
    expect(calls).toBe(2)
    await c.client.close()
  })
})

describe('onUpdate (HOOK-3)', () => {
  const subjectRule: WeftHooks = {
    authenticate: cookieAuth,
    onUpdate: ({ connection }) =>
      connection.subject === 'mallory' ? { ok: false, reason: 'mallory may not write' } : undefined,
  }

  const asyncSubjectRule: WeftHooks = {
    authenticate: cookieAuth,
    onUpdate: async ({ connection }) => {
      await Promise.resolve()
      return connection.subject === 'mallory' ? { ok: false, reason: 'mallory may not write' } : undefined
    },
  }

  it.each([
    ['synchronous', subjectRule],
    ['async', asyncSubjectRule],
  ])(
    'HOOK-3.1: a refused update (%s hook) closes its writer with UpdateRefused; nothing of it is stored or forwarded; the others keep syncing',
    async (_kind, rule) => {
      const a = await start(rule)
      const alice = stockWithCookie(a.relayUrl, 'notes-1', 's1')
      const mallory = stockWithCookie(a.relayUrl, 'notes-1', 's2')
      const bob = stockWithCookie(a.relayUrl, 'notes-1', 's3')
      await Promise.all([alice.synced, mallory.synced, bob.synced])
      const malloryClosed = new Promise<{ code: number }>((resolve) =>
        mallory.provider.on('closed', (event) => resolve(event)),
      )
      mallory.doc.getText('t').insert(0, 'vandalism')
      expect((await mallory.closed).code).toBe(CloseCode.UpdateRefused)
      // 4404 is final for a stock client: it stops reconnecting.
      expect((await malloryClosed).code).toBe(CloseCode.UpdateRefused)
      expect(logged('update refused by the onUpdate hook')).toHaveLength(1)
      alice.doc.getText('t').insert(0, 'hello')
      await textEquals(bob.doc, 'hello')
      alice.doc.getText('t').insert(5, ' again')
      await textEquals(bob.doc, 'hello again')
      await a.relay.close()
      expect(await storedText('notes-1')).toBe('hello again')
    },
  )

  it('HOOK-3.2: a throwing onUpdate closes the writer with InternalError and logs; nothing is stored; the relay serves on', async () => {
    const a = await start({
      authenticate: cookieAuth,
      onUpdate: ({ connection }) => {
        if (connection.subject === 'mallory') throw new Error('rule engine down')
      },
    })
    const mallory = stockWithCookie(a.relayUrl, 'notes-1', 's2')
    const alice = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    await Promise.all([alice.synced, mallory.synced])
    mallory.doc.getText('t').insert(0, 'lost')
    expect((await mallory.closed).code).toBe(CloseCode.InternalError)
    expect(logged('onUpdate hook failed')).toHaveLength(1)
    const reader = stockWithCookie(a.relayUrl, 'notes-1', 's3')
    await reader.synced
    alice.doc.getText('t').insert(0, 'kept')
    await textEquals(reader.doc, 'kept')
    await a.relay.close()
    expect(await storedText('notes-1')).toBe('kept')
  })

  it("HOOK-3.3: a slow async onUpdate keeps one connection's updates in order and holds its acks; other connections are not held", async () => {
    const gate = deferred()
    const decided: string[] = []
    const a = await start({
      onUpdate: async ({ update }) => {
        const doc = new Y.Doc()
        Y.applyUpdate(doc, update)
        const text = doc.getText('t').toString()
        if (text === 'first') await gate.promise
        decided.push(text)
      },
    })
    const writer = await WeftTestClient.open(`${a.relayUrl}/r`)
    const other = await WeftTestClient.open(`${a.relayUrl}/r`)
    const reader = await WeftTestClient.open(`${a.relayUrl}/r`)
    await Promise.all([writer.next('sync-step2'), other.next('sync-step2'), reader.next('sync-step2')])
    // Three independent updates (separate Yjs clients): each would apply on its own, so only the relay keeps order.
    const updates = ['first', 'second', 'third'].map((text) => {
      const d = new Y.Doc()
      d.getText('t').insert(0, text)
      return Y.encodeStateAsUpdate(d)
    })
    for (const u of updates) writer.sendUpdate(u)
    // An awareness message after them, on the same socket: once the reader has it, all three have arrived.
    const presence = new awarenessProtocol.Awareness(new Y.Doc())
    const sendPresence = (user: string) => {
      presence.setLocalState({ user })
      writer.client.send(
        encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(presence, [presence.clientID])),
      )
    }
    cleanups.push(() => presence.destroy())
    sendPresence('writer')
    await reader.next('awareness')
    expect(decided).toEqual([])
    expect(reader.has('sync-update')).toBe(false)
    // Another connection's update is not held behind them.
    const d = new Y.Doc()
    d.getText('t').insert(0, 'other')
    other.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(d)))
    const forwarded = await reader.next('sync-update')
    expect(forwarded.update).toEqual(Y.encodeStateAsUpdate(d))
    expect(decided).toEqual(['other'])
    // An empty update's ack must not cover the held ones: none has come back once the writer has its own presence
    // (sent after the empty update) echoed.
    const emptySeq = writer.sendUpdate(Y.encodeStateAsUpdate(new Y.Doc()))
    sendPresence('writer, later')
    await writer.next('awareness')
    await writer.next('awareness')
    expect(writer.has('ack')).toBe(false)
    gate.resolve()
    expect(await writer.ackAtLeast(emptySeq)).toBe(emptySeq)
    const inOrder = [
      await reader.next('sync-update'),
      await reader.next('sync-update'),
      await reader.next('sync-update'),
    ]
    expect(inOrder.map((m) => m.update)).toEqual(updates)
    expect(decided).toEqual(['other', 'first', 'second', 'third'])
    await a.relay.close()
    const stored = await store!.load(docId('r'))
    const all = new Y.Doc()
    for (const u of stored?.updates ?? []) Y.applyUpdate(all, u)
    expect(all.getText('t').toString()).toHaveLength('firstsecondthirdother'.length)
    for (const c of [writer, other, reader]) await c.client.close()
  })

  it('HOOK-3.4: updates still waiting for onUpdate when their connection closes are dropped, never stored', async () => {
    const gate = deferred()
    const entered = deferred()
    let calls = 0
    const a = await start({
      onUpdate: async () => {
        calls++
        entered.resolve()
        await gate.promise
      },
    })
    const writer = await WeftTestClient.open(`${a.relayUrl}/r`)
    await writer.next('sync-step2')
    for (const text of ['one', 'two']) {
      const d = new Y.Doc()
      d.getText('t').insert(0, text)
      writer.sendUpdate(Y.encodeStateAsUpdate(d))
    }
    await entered.promise
    await writer.client.close()
    gate.resolve()
    await a.relay.close()
    expect(calls).toBe(1) // the second update was dropped without asking the hook
    expect(await store!.load(docId('r'))).toBeNull()
  })
})

describe('onStored (HOOK-5)', () => {
  it('HOOK-5: called after each durable group commit with the store clock, in order', async () => {
    const calls: Array<{ room: string; clock: number; text: string }> = []
    const next = [deferred(), deferred()]
    const a = await start({
      onStored: async ({ room, clock }) => {
        // The commit is in the store when the hook runs.
        calls.push({ room, clock, text: await storedText(room) })
        next[calls.length - 1]?.resolve()
      },
    })
    const w = await WeftTestClient.open(`${a.relayUrl}/notes-1`)
    await w.next('sync-step2')
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'one')
    w.sendUpdate(Y.encodeStateAsUpdate(doc))
    await next[0]?.promise
    const sv = Y.encodeStateVector(doc)
    doc.getText('t').insert(3, ' two')
    w.sendUpdate(Y.encodeStateAsUpdate(doc, sv))
    await next[1]?.promise
    expect(calls.map((c) => c.text)).toEqual(['one', 'one two'])
    expect(calls[0]?.room).toBe('notes-1')
    expect(calls[1]?.clock).toBe((await store!.load(docId('notes-1')))?.clock)
    expect(calls[0]!.clock).toBeLessThan(calls[1]!.clock)
    await w.client.close()
  })

  it('HOOK-5: a throwing onStored is logged; the updates stay stored and acknowledged', async () => {
    const a = await start({
      onStored: () => {
        throw new Error('webhook down')
      },
    })
    const w = await WeftTestClient.open(`${a.relayUrl}/notes-1`)
    await w.next('sync-step2')
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'safe')
    await w.ackAtLeast(w.sendUpdate(Y.encodeStateAsUpdate(doc)))
    await a.relay.close()
    expect(logged('onStored hook failed')).toHaveLength(1)
    expect(await storedText('notes-1')).toBe('safe')
  })

  it('HOOK-5.2: onStored and onDisconnect calls that never settle are given up after hookTimeoutMs; acks go out and close() completes', async () => {
    // R2: a webhook without a timeout kept relay.close() pending for good.
    const storedCalls: number[] = []
    const a = await start(
      {
        onStored: ({ clock }) => {
          storedCalls.push(clock)
          return new Promise<void>(() => undefined)
        },
        onDisconnect: () => new Promise<void>(() => undefined),
      },
      { hookTimeoutMs: 20 },
    )
    const w = await WeftTestClient.open(`${a.relayUrl}/notes-1`)
    await w.next('sync-step2')
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'one')
    await w.ackAtLeast(w.sendUpdate(Y.encodeStateAsUpdate(doc)))
    const sv = Y.encodeStateVector(doc)
    doc.getText('t').insert(3, ' two')
    await w.ackAtLeast(w.sendUpdate(Y.encodeStateAsUpdate(doc, sv)))
    await w.client.close()
    await a.relay.close()
    expect(storedCalls).toHaveLength(2)
    expect(logged('onStored hook timed out')).toHaveLength(2)
    expect(logged('onDisconnect hook timed out')).toHaveLength(1)
    expect(await storedText('notes-1')).toBe('one two')
  })
})

describe('onConnect and onDisconnect (HOOK-4)', () => {
  it('HOOK-4.1: onConnect gets the connection (id, room, access, subject, address) before it is served; onDisconnect follows its close', async () => {
    const gate = deferred()
    const connected: unknown[] = []
    const bothIn = deferred()
    const gone = deferred<unknown>()
    const a = await start({
      authenticate: cookieAuth,
      onConnect: async (ctx) => {
        connected.push({ ...ctx, grant: undefined })
        if (connected.length === 2) bothIn.resolve()
        await gate.promise
      },
      onDisconnect: (ctx) => gone.resolve({ ...ctx, grant: undefined }),
    })
    const bob = await TestClient.open(`${a.relayUrl}/notes-1`, undefined, {
      headers: { cookie: 'session=s3' },
    })
    const alice = stockWithCookie(a.relayUrl, 'notes-1', 's1')
    // Alice's connection waits for her onConnect (gated), as bob's does.
    await bothIn.promise
    expect(alice.provider.synced).toBe(false)
    gate.resolve()
    await alice.synced
    const bobContext = connected.find((c) => (c as { subject: string }).subject === 'bob')
    expect(bobContext).toMatchObject({ room: 'notes-1', access: 'read', clientAddress: '127.0.0.1' })
    await bob.close()
    expect(await gone.promise).toEqual(bobContext)
  })

  it('HOOK-4.2: a throwing onConnect closes with InternalError and logs; onDisconnect is still called once', async () => {
    let disconnects = 0
    const a = await start({
      onConnect: () => {
        throw new Error('quota exceeded')
      },
      onDisconnect: () => void disconnects++,
    })
    expect((await refusedWith(`${a.relayUrl}/notes-1`)).code).toBe(CloseCode.InternalError)
    expect(logged('onConnect hook failed')).toHaveLength(1)
    await a.relay.close()
    expect(disconnects).toBe(1)
  })
})
