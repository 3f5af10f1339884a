import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode, openTyped } from '@weft/core'
import { decodeMessage, encodeSyncUpdate } from '@weft/core/protocol'
import { defineRules } from '@weft/core/rules'
import { pino } from 'pino'
import { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftRelay, RoomGrant, type AuthResult, type WeftHooks } from '../../src/index.js'
import { memoryRelaySocketPair } from '../../src/relay/MemoryRelaySocket.js'
import { GatedStore } from '../helpers/GatedStore.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { board } from '../rules/relayRules.js'
import { WorkspaceTestClient } from '../workspace/WorkspaceTestClient.js'

// Issue 16 item 5: a permission change takes effect on live connections (RELAY-4.5 to RELAY-4.9).

type Rooms = Record<string, 'read' | 'write'>

/** The app's permissions: the token is the user's name; what it may do is looked up at every decision. */
const permissions = new Map<string, Rooms>()
const roles = new Map<string, string>()
/** `onUpdate` calls: who wrote, with which access and role, as the hook saw the connection. */
const seen: Array<{ subject: string | undefined; access: string; role: unknown }> = []

const hooks: WeftHooks = {
  authenticate: ({ token }) => {
    const rooms = token === undefined ? undefined : permissions.get(token)
    if (!rooms) return { ok: false, reason: 'no such user' }
    return { ok: true, grant: new RoomGrant(rooms, undefined, token, { role: roles.get(token ?? '') }) }
  },
  onUpdate: ({ connection }) => {
    seen.push({
      subject: connection.subject,
      access: connection.access,
      role: connection.grant.claims?.['role'],
    })
  },
}

let srv: TestServer | null = null
let store: GatedStore | null = null
const clients: Array<{ close(): unknown }> = []
const stocks: StockClient[] = []

afterEach(async () => {
  for (const s of stocks.splice(0)) s.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
  permissions.clear()
  roles.clear()
  seen.length = 0
})

const start = async (options: Parameters<typeof startTestServer>[0] = {}) => {
  store = new GatedStore(new SqliteDocStore({ path: ':memory:' }))
  srv = await startTestServer({ store, hooks, ...options })
  return srv
}

const server = () => {
  if (!srv) throw new Error('no server')
  return srv.server
}

/** Stops the server (which writes everything it accepted) and returns how many appends reached the store. */
const storedAppends = async (): Promise<number> => {
  await srv?.server.close()
  return store?.appends ?? 0
}

const openClient = async (path: string, user: string): Promise<TestClient> => {
  const c = await TestClient.open(`${srv?.ws}${path}?token=${user}`)
  clients.push(c)
  return c
}

const openWorkspace = async (workspace: string, user: string): Promise<WorkspaceTestClient> => {
  const c = await WorkspaceTestClient.open(`${srv?.ws}/workspace/${workspace}?token=${user}`)
  clients.push(c)
  return c
}

const anUpdate = (text: string): Uint8Array => {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

/** Sends an update and waits until the store has it. */
const writeStored = async (client: TestClient, text: string): Promise<void> => {
  const stored = store?.nextAppend()
  client.send(encodeSyncUpdate(anUpdate(text)))
  await stored
}

/** Whether `data` is a sync update whose text `t` contains `text`. */
const carries = (data: Buffer, text: string): boolean => {
  const message = decodeMessage(data)
  if (message.type !== 'sync-update' && message.type !== 'sync-step2') return false
  const doc = new Y.Doc()
  Y.applyUpdate(doc, message.update)
  return doc.getText('t').toString().includes(text)
}

/** Starts the server with alice and bob, both writers of `notes`, connected; alice has written `text` (stored). */
const twoWriters = async (text: string): Promise<{ alice: TestClient; bob: TestClient }> => {
  await start()
  permissions.set('alice', { notes: 'write' })
  permissions.set('bob', { notes: 'write' })
  const alice = await openClient('/relay/notes', 'alice')
  const bob = await openClient('/relay/notes', 'bob')
  await writeStored(alice, text)
  return { alice, bob }
}

describe('revalidating live connections (RELAY-4.5 to RELAY-4.9)', () => {
  it('RELAY-4.5: a writer whose access is revoked is closed with AccessRevoked and its next bytes are not stored', async () => {
    const { alice, bob } = await twoWriters('before')

    permissions.delete('alice')
    const result = await server().revalidate({ subject: 'alice' })
    expect(result).toMatchObject({ checked: 1, closed: 1, kept: 0 })
    // Sent right after the decision, before the close frame reached the client: not handled.
    alice.send(encodeSyncUpdate(anUpdate('after revocation')))
    expect((await alice.closed).code).toBe(CloseCode.AccessRevoked)
    // Bob was not matched and writes on.
    await writeStored(bob, 'bob carries on')
    expect(await storedAppends()).toBe(2)
  })

  it('RELAY-4.5: a grant that no longer names the room closes the connection too; the filter picks by room', async () => {
    await start()
    permissions.set('alice', { notes: 'write', todo: 'write' })
    const notes = await openClient('/relay/notes', 'alice')
    const todo = await openClient('/relay/todo', 'alice')
    permissions.set('alice', { todo: 'write' })
    expect(await server().revalidate({ room: 'notes' })).toMatchObject({ checked: 1, closed: 1 })
    expect((await notes.closed).code).toBe(CloseCode.AccessRevoked)
    await writeStored(todo, 'still granted')
    expect(await server().revalidate({ where: (c) => c.room === 'todo' })).toMatchObject({
      checked: 1,
      kept: 1,
    })
  })

  it('RELAY-4.6: a writer downgraded to read stays connected, and its next update is refused with ReadOnly, nothing stored', async () => {
    const { alice, bob } = await twoWriters('alice wrote')

    permissions.set('alice', { notes: 'read' })
    expect(await server().revalidate()).toMatchObject({ checked: 2, downgraded: 1, kept: 1, closed: 0 })
    // Still connected: it receives what others write.
    const received = alice.next((data, isBinary) => isBinary && carries(data, 'bob wrote'))
    await writeStored(bob, 'bob wrote')
    await received

    alice.send(encodeSyncUpdate(anUpdate('alice writes again')))
    expect((await alice.closed).code).toBe(CloseCode.ReadOnly)
    expect(await storedAppends()).toBe(2)
    expect(seen.map((s) => s.subject)).toEqual(['alice', 'bob'])
  })

  it('RELAY-4.6: a reader whose access grew to write stays read-only until it reconnects', async () => {
    await start()
    permissions.set('alice', { notes: 'read' })
    const alice = await openClient('/relay/notes', 'alice')
    permissions.set('alice', { notes: 'write' })
    expect(await server().revalidate()).toMatchObject({ checked: 1, kept: 1, downgraded: 0 })
    alice.send(encodeSyncUpdate(anUpdate('not yet')))
    expect((await alice.closed).code).toBe(CloseCode.ReadOnly)
    const again = await openClient('/relay/notes', 'alice')
    await writeStored(again, 'after reconnecting')
    expect(await storedAppends()).toBe(1)
  })

  it('RELAY-4.5, HOOK-1.6: of two overlapping revalidations of one connection, the later one decides', async () => {
    const verdicts: Array<(rooms: Rooms) => void> = []
    let wake: (() => void) | null = null
    const asked = async (n: number): Promise<void> => {
      while (verdicts.length < n) await new Promise<void>((resolve) => (wake = resolve))
    }
    await start({
      hooks: {
        authenticate: ({ token, connection }) => {
          const grant = (rooms: Rooms) => ({
            ok: true as const,
            grant: new RoomGrant(rooms, undefined, token),
          })
          if (!connection) return grant({ notes: 'write' })
          return new Promise((resolve) => {
            verdicts.push((rooms) => resolve(grant(rooms)))
            wake?.()
          })
        },
      },
    })
    const alice = await openClient('/relay/notes', 'alice')
    const first = server().revalidate()
    await asked(1)
    const second = server().revalidate()
    // The earlier call's decision (revoke) arrives after the later call began: it is stale, not applied; the later
    // call's decision is made after it (one at a time per connection) and applied.
    verdicts[0]?.({})
    await asked(2)
    verdicts[1]?.({ notes: 'write' })
    expect(await second).toMatchObject({ checked: 1, kept: 1, closed: 0 })
    expect(await first).toMatchObject({ checked: 1, kept: 1, closed: 0 })
    await writeStored(alice, 'still granted')
  })

  it('RELAY-4.7: changed claims reach the onUpdate hook and the room rules (the writer identity) of an open connection', async () => {
    const rules = defineRules(board, {
      collections: { shapes: { create: (ctx) => ctx.claims['role'] === 'editor' || 'editors only' } },
    })
    await start({ relay: { rules: { 'board-*': rules } } })
    permissions.set('alice', { 'board-1': 'write' })
    roles.set('alice', 'viewer')
    const alice = await openClient('/relay/board-1', 'alice')
    const doc = new Y.Doc()
    const typed = openTyped(doc, board)
    let sent: Uint8Array = new Uint8Array([0])

    roles.set('alice', 'editor')
    expect(await server().revalidate({ subject: 'alice' })).toMatchObject({ checked: 1, kept: 1 })
    typed.root.shapes.insert({ name: 'a', x: 1, author: 'alice' }, { id: 'a' })
    const stored = store?.nextAppend()
    alice.send(encodeSyncUpdate(Y.encodeStateAsUpdate(doc, sent)))
    sent = Y.encodeStateVector(doc)
    // Rejected by the rules (a stock writer is closed with UpdateRejected) had they seen the old role.
    await stored
    expect(seen).toEqual([{ subject: 'alice', access: 'write', role: 'editor' }])

    roles.set('alice', 'viewer')
    await server().revalidate({ subject: 'alice' })
    typed.root.shapes.insert({ name: 'b', x: 2, author: 'alice' }, { id: 'b' })
    alice.send(encodeSyncUpdate(Y.encodeStateAsUpdate(doc, sent)))
    expect((await alice.closed).code).toBe(CloseCode.UpdateRejected)
    expect(await storedAppends()).toBe(1)
  })

  it('RELAY-4.5: a stock y-websocket client whose access is revoked sees AccessRevoked and stops reconnecting', async () => {
    await start()
    permissions.set('carol', { stock: 'write' })
    const carol = stockClient(`${srv?.ws}/relay`, 'stock', { params: { token: 'carol' } })
    stocks.push(carol)
    await carol.synced()
    const closed = new Promise<{ code: number }>((resolve) => {
      carol.provider.once('closed', (event: { code: number }) => resolve(event))
    })
    permissions.delete('carol')
    await server().revalidate({ subject: 'carol' })
    expect((await closed).code).toBe(CloseCode.AccessRevoked)
    expect(carol.provider.shouldConnect).toBe(false)
    expect(carol.provider.wsconnected).toBe(false)
  })

  it('RELAY-4.8: a workspace socket loses the one document whose access is gone, and keeps the others', async () => {
    await start()
    permissions.set('alice', { 'team/notes': 'write', 'team/todo': 'write', 'team/plan': 'write' })
    const ws = await openWorkspace('team', 'alice')
    const notes = ws.subscribe('notes')
    const todo = ws.subscribe('todo')
    const plan = ws.subscribe('plan')
    await Promise.all([ws.synced('notes'), ws.synced('todo'), ws.synced('plan')])

    permissions.set('alice', { 'team/notes': 'write', 'team/plan': 'read' })
    expect(await server().revalidate({ room: 'team/todo' })).toMatchObject({
      checked: 1,
      kept: 1,
      documentsRevoked: 1,
      downgraded: 1,
    })
    const refused = await ws.next((f) => f.kind === 'refused' && f.doc === 'todo')
    expect(refused.frame).toMatchObject({ code: CloseCode.AccessRevoked })
    // The revoked document's later frames are dropped; the granted one is written on.
    todo.getText('t').insert(0, 'not stored')
    const stored = store?.nextAppend()
    notes.getText('t').insert(0, 'still written')
    expect(String(await stored)).toBe('team/notes')
    // The downgraded one refuses the next write with ReadOnly, for that document alone.
    plan.getText('t').insert(0, 'read only now')
    const readOnly = await ws.next((f) => f.kind === 'refused' && f.doc === 'plan')
    expect(readOnly.frame).toMatchObject({ code: CloseCode.ReadOnly })
    expect(ws.ws.readyState).toBe(ws.ws.OPEN)
    expect(await storedAppends()).toBe(1)
    expect(await srv?.store.list()).not.toContain('team/todo')
  })

  it('RELAY-4.8: a refused decision closes the whole workspace socket with AccessRevoked', async () => {
    await start()
    permissions.set('alice', { 'team/*': 'write' })
    const ws = await openWorkspace('team', 'alice')
    ws.subscribe('notes')
    await ws.synced('notes')
    permissions.delete('alice')
    expect(await server().revalidate()).toMatchObject({ checked: 1, closed: 1 })
    expect(await ws.closed).toBe(CloseCode.AccessRevoked)
  })

  it('RELAY-4.9: a signaling connection whose subscribed topic lost write access is closed; others stay', async () => {
    await start()
    permissions.set('alice', { room: 'write' })
    permissions.set('bob', { room: 'write' })
    const alice = await openClient('/signal', 'alice')
    const bob = await openClient('/signal', 'bob')
    alice.sendJson({ type: 'subscribe', topics: ['room'] })
    bob.sendJson({ type: 'subscribe', topics: ['room'] })
    bob.sendJson({ type: 'publish', topic: 'room', marker: 'both' })
    expect((await alice.nextJson())['marker']).toBe('both')

    permissions.set('alice', { room: 'read' })
    expect(await server().revalidate({ room: 'room' })).toMatchObject({ checked: 2, closed: 1, kept: 1 })
    expect((await alice.closed).code).toBe(CloseCode.AccessRevoked)
    bob.sendJson({ type: 'publish', topic: 'room', marker: 'alone' })
    expect(await bob.nextJson((m) => m['marker'] === 'alone')).toMatchObject({ clients: 1 })
  })

  it('RELAY-4.5: an authenticate hook that throws while revalidating closes that connection with InternalError', async () => {
    let fail = false
    await start({
      hooks: {
        authenticate: ({ token }) => {
          if (fail) throw new Error('permission service down')
          return { ok: true, grant: new RoomGrant({ notes: 'write' }, undefined, token) }
        },
      },
    })
    const alice = await openClient('/relay/notes', 'alice')
    fail = true
    expect(await server().revalidate()).toMatchObject({ checked: 1, closed: 1 })
    expect((await alice.closed).code).toBe(CloseCode.InternalError)
  })

  it('RELAY-4.5: the hook is told which open connection it decides again (ctx.connection)', async () => {
    const contexts: Array<{ id: number; subject: string | undefined } | undefined> = []
    await start({
      hooks: {
        authenticate: ({ token, connection }) => {
          contexts.push(connection && { id: connection.id, subject: connection.grant.subject })
          return { ok: true, grant: new RoomGrant({ notes: 'write' }, undefined, token) }
        },
      },
    })
    await openClient('/relay/notes', 'alice')
    await server().revalidate()
    expect(contexts).toEqual([undefined, { id: expect.any(Number) as number, subject: 'alice' }])
  })

  it('RELAY-4.5: a new grant with an earlier expiry ends the connection then (TokenExpired)', async () => {
    let expiresAt: number | undefined = undefined
    await start({
      hooks: {
        authenticate: ({ token }) => ({
          ok: true,
          grant: new RoomGrant({ notes: 'write' }, expiresAt, token),
        }),
      },
    })
    const alice = await openClient('/relay/notes', 'alice')
    expiresAt = Date.now() + 50
    expect(await server().revalidate()).toMatchObject({ kept: 1 })
    expect((await alice.closed).code).toBe(CloseCode.TokenExpired)
  })

  it('RELAY-4.5: without an authenticate hook nothing is decided again (a JWT cannot change while valid)', async () => {
    await start({ hooks: {} })
    const open = await openClient('/relay/notes', 'anyone')
    expect(await server().revalidate()).toMatchObject({ checked: 1, kept: 1, closed: 0 })
    await writeStored(open, 'still open')
  })

  it('RELAY-4.5: a socket the app handed over is decided again by its reauthorize; without one it is kept', async () => {
    const handedStore = new GatedStore(new SqliteDocStore({ path: ':memory:' }))
    const relay = createWeftRelay({
      store: handedStore,
      commitWindowMs: 5,
      logger: pino({ level: 'silent' }),
    })
    let verdict: AuthResult = { ok: true, grant: new RoomGrant({ notes: 'write' }, undefined, 'alice') }
    const asked: Array<string | undefined> = []
    const revoked = memoryRelaySocketPair()
    const plain = memoryRelaySocketPair()
    relay.accept(revoked.relay, {
      room: 'notes',
      grant: new RoomGrant({ notes: 'write' }, undefined, 'alice'),
      reauthorize: ({ grant }) => {
        asked.push(grant.subject)
        return verdict
      },
    })
    relay.accept(plain.relay, { room: 'notes', grant: new RoomGrant({ notes: 'write' }, undefined, 'bob') })
    await relay.start()
    const stored = handedStore.nextAppend()
    revoked.client.send(encodeSyncUpdate(anUpdate('handed write')))
    await stored

    verdict = { ok: false, reason: 'removed from the team' }
    expect(await relay.revalidate()).toMatchObject({ checked: 2, kept: 1, closed: 1 })
    expect(asked).toEqual(['alice'])
    revoked.client.send(encodeSyncUpdate(anUpdate('after revocation')))
    expect((await revoked.client.closed).code).toBe(CloseCode.AccessRevoked)
    expect(plain.client.closeInfo).toBeNull()
    await relay.close()
    expect(handedStore.appends).toBe(1)
  })
})
