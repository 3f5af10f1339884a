import { afterEach, describe, expect, it, vi } from 'vitest'
import { SignJWT } from 'jose'
import { CloseCode, isWorkspaceIndexed } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  decodeMessage,
  encodeSyncUpdate,
  Feature,
  PROTOCOL_VERSION,
  encodeAwareness,
  encodeDocFrame,
  WorkspaceFrameKind,
  type WorkspaceFrame,
} from '@weft/core/protocol'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const token = (rooms: Record<string, string>) =>
  new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 60)
    .sign(new TextEncoder().encode(SECRET))

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []
const stocks: StockClient[] = []

afterEach(async () => {
  for (const s of stocks.splice(0)) s.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const start = async (options: Parameters<typeof startTestServer>[0] = {}) =>
  (srv = await startTestServer(options))

const open = async (workspace: string, query = ''): Promise<WorkspaceTestClient> => {
  const client = await WorkspaceTestClient.open(`${srv?.ws}/workspace/${workspace}${query}`)
  clients.push(client)
  return client
}

const stock = (room: string, params?: Record<string, string>): StockClient => {
  const client = stockClient(`${srv?.ws}/relay`, room, params ? { params } : {})
  stocks.push(client)
  return client
}

const refusedFor =
  (doc: string) =>
  (f: WorkspaceFrame): boolean =>
    f.kind === 'refused' && f.doc === doc
const changedFor =
  (doc: string) =>
  (f: WorkspaceFrame): boolean =>
    f.kind === 'changed' && f.doc === doc

describe('workspace endpoint', () => {
  it('WS-RELAY-1, WS-RELAY-2: one socket carries two documents; each is the room W/D a stock y-websocket client sees', async () => {
    await start()
    const ws = await open('team')
    const notes = ws.subscribe('notes')
    const todo = ws.subscribe('todo')
    notes.getText('t').insert(0, 'notes from the workspace')
    todo.getText('t').insert(0, 'todo from the workspace')

    const stockNotes = stock('team/notes')
    const stockTodo = stock('team/todo')
    await Promise.all([
      textEquals(stockNotes.doc, 'notes from the workspace'),
      textEquals(stockTodo.doc, 'todo from the workspace'),
    ])
    // And back: the stock client's edit reaches the workspace socket, in the right document only.
    stockTodo.doc.getText('t').insert(0, '> ')
    await ws.text('todo', '> todo from the workspace')
    expect(notes.getText('t').toString()).toBe('notes from the workspace')
    // Another workspace's room of the same name is another document.
    const other = stock('elsewhere/notes')
    await other.synced()
    expect(other.doc.getText('t').toString()).toBe('')
  })

  it('WS-RELAY-3: per-document access from the token: read-only and forbidden documents are refused alone, the socket stays', async () => {
    await start({ auth: { secret: SECRET } })
    const t = await token({ 'team/rw': 'write', 'team/ro': 'read' })
    const ws = await open('team', `?token=${t}`)
    ws.subscribe('secret')
    const forbidden = await ws.next(refusedFor('secret'))
    expect(forbidden.frame).toMatchObject({ code: CloseCode.Forbidden })

    const ro = ws.subscribe('ro')
    const rw = ws.subscribe('rw')
    rw.getText('t').insert(0, 'written')
    await ws.next((f) => f.kind === 'doc' && f.doc === 'ro')
    // A write to the read-only document is refused for that document only (ReadOnly, as on /relay, RELAY-4.3).
    ro.getText('t').insert(0, 'not allowed')
    const readOnly = await ws.next(refusedFor('ro'))
    expect(readOnly.frame).toMatchObject({ code: CloseCode.ReadOnly })
    rw.getText('t').insert(7, ' and still written')
    const reader = stock('team/rw', { token: t })
    await textEquals(reader.doc, 'written and still written')
    expect(ws.ws.readyState).toBe(ws.ws.OPEN)
    // The server stored nothing of the refused write, nor of the forbidden document.
    const check = stock('team/ro', { token: t })
    await check.synced()
    expect(check.doc.getText('t').toString()).toBe('')
    expect(await srv?.store.list()).not.toContain('team/secret')
  })

  it('WS-RELAY-3: an invalid document id and a subscription past maxWorkspaceSubscriptions are refused, the socket stays', async () => {
    await start({ limits: { maxWorkspaceSubscriptions: 2 } })
    const ws = await open('team')
    ws.subscribe('a~b')
    expect((await ws.next(refusedFor('a~b'))).frame).toMatchObject({ code: CloseCode.Forbidden })
    ws.subscribe('one')
    ws.subscribe('two')
    ws.subscribe('three')
    expect((await ws.next(refusedFor('three'))).frame).toMatchObject({ code: CloseCode.TooManyRooms })
    ws.unsubscribe('one')
    const three = ws.subscribe('three')
    three.getText('t').insert(0, 'third')
    const reader = stock('team/three')
    await textEquals(reader.doc, 'third')
  })

  it('WS-RELAY-4: hooks run per document (onConnect, onUpdate, onDisconnect with the room W/D); a refused update is REFUSED for its document; UNSUBSCRIBE and the socket close leave the rooms', async () => {
    const events: string[] = []
    const waiting = new Map<string, () => void>()
    const disconnected = (room: string) =>
      events.includes(`disconnect ${room}`)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.set(room, resolve))
    await start({
      hooks: {
        onConnect: (ctx) => void events.push(`connect ${ctx.room} ${ctx.access}`),
        onDisconnect: (ctx) => {
          events.push(`disconnect ${ctx.room}`)
          waiting.get(ctx.room)?.()
        },
        onUpdate: (ctx) => {
          if (ctx.room === 'team/locked') return { ok: false, reason: 'locked' }
          events.push(`update ${ctx.room}`)
          return { ok: true }
        },
      },
    })
    const ws = await open('team')
    const open1 = ws.subscribe('open')
    const locked = ws.subscribe('locked')
    ws.subscribe('kept')
    open1.getText('t').insert(0, 'x')
    locked.getText('t').insert(0, 'y')
    const refused = await ws.next(refusedFor('locked'))
    expect(refused.frame).toMatchObject({ code: CloseCode.UpdateRefused })
    await ws.next(changedFor('open'))
    ws.unsubscribe('open')
    await disconnected('team/open')
    await disconnected('team/locked')
    expect(events).toContain('connect team/open write')
    expect(events).toContain('connect team/locked write')
    expect(events).toContain('connect team/kept write')
    expect(events).toContain('update team/open')
    expect(events).not.toContain('disconnect team/kept')
    await ws.close()
    await disconnected('team/kept')
  })

  it("HOOK-5.4 WS-RELAY-6: CHANGED pushes do not wait for the app's onStored, even one that never settles", async () => {
    const calls: number[] = []
    let release!: () => void
    const hanging = new Promise<void>((resolve) => (release = resolve))
    await start({
      hooks: {
        onStored: ({ clock }) => {
          calls.push(clock)
          return hanging
        },
      },
      // Longer than the test may take: a push that waited for the hook would not come in time.
      relay: { hookTimeoutMs: 40_000 },
    })
    const watcher = await open('team')
    const a = stock('team/a')
    await a.synced()
    a.doc.getText('t').insert(0, 'one')
    const first = await watcher.next(changedFor('a'))
    a.doc.getText('t').insert(3, ' two')
    const second = await watcher.next(changedFor('a'), first.index + 1)
    expect((second.frame as { seq: number }).seq).toBeGreaterThan((first.frame as { seq: number }).seq)
    // The app's hook was called once; the second commit's call waits behind it (HOOK-5.3).
    expect(calls).toHaveLength(1)
    release()
  })

  it('WS-RELAY-6: CHANGED is pushed after each durable commit, for documents the token may read, subscribed or not', async () => {
    await start({ auth: { secret: SECRET } })
    const watcher = await open('team', `?token=${await token({ 'team/a': 'read', 'team/b': 'read' })}`)
    const writerToken = await token({ '*': 'write' })
    const a = stock('team/a', { token: writerToken })
    await a.synced()
    a.doc.getText('t').insert(0, 'a')
    const first = await watcher.next(changedFor('a'))
    const seqA = (first.frame as { seq: number }).seq
    const hidden = stock('team/hidden', { token: writerToken })
    await hidden.synced()
    hidden.doc.getText('t').insert(0, 'h')
    const elsewhere = stock('other/a', { token: writerToken })
    await elsewhere.synced()
    elsewhere.doc.getText('t').insert(0, 'o')
    const b = stock('team/b', { token: writerToken })
    await b.synced()
    b.doc.getText('t').insert(0, 'b')
    const second = await watcher.next(changedFor('b'), first.index + 1)
    // The hidden document's commit came between: its seq is skipped, and it is never named.
    expect((second.frame as { seq: number }).seq).toBeGreaterThan(seqA)
    expect(watcher.frames.some((r) => r.frame.kind === 'changed' && r.frame.doc === 'hidden')).toBe(false)
    // The other workspace's document is not this one's.
    expect(watcher.frames.filter((r) => r.frame.kind === 'changed').map((r) => r.frame)).toEqual([
      { kind: 'changed', doc: 'a', seq: seqA },
      { kind: 'changed', doc: 'b', seq: (second.frame as { seq: number }).seq },
    ])
  })

  it('WS-RELAY-7: catch-up after a reconnect returns only what changed since the cursor, readable documents only', async () => {
    await start({ auth: { secret: SECRET } })
    const all = await token({ 'team/*': 'write' })
    const first = await open('team', `?token=${all}`)
    // Edits made once synced: one commit each (an edit made before would also come back in the client's step 2).
    for (const doc of ['a', 'b', 'c']) first.subscribe(doc)
    for (const doc of ['a', 'b', 'c']) (await first.synced(doc)).getText('t').insert(0, doc)
    await first.next(changedFor('c'))
    await first.next(changedFor('a'))
    await first.next(changedFor('b'))
    const seen = Math.max(...first.frames.flatMap((r) => (r.frame.kind === 'changed' ? [r.frame.seq] : [])))
    await first.close()

    // While the client is away: b and c change, c is not readable by its next token.
    const writer = await open('team', `?token=${all}`)
    writer.subscribe('b')
    writer.subscribe('c')
    ;(await writer.synced('b')).getText('t').insert(0, 'B')
    ;(await writer.synced('c')).getText('t').insert(0, 'C')
    await writer.next(changedFor('c'), 0)
    await writer.next(changedFor('b'), 0)

    const again = await open('team', `?token=${await token({ 'team/a': 'read', 'team/b': 'read' })}`)
    again.catchUp(seen, 1)
    const pages: WorkspaceFrame[] = []
    for (let from = 0; ;) {
      const page = await again.next((f) => f.kind === 'changes', from)
      pages.push(page.frame)
      from = page.index + 1
      if (page.frame.kind === 'changes' && !page.frame.more) break
    }
    const docs = pages.flatMap((p) => (p.kind === 'changes' ? p.changes.map((c) => c.doc) : []))
    expect(docs).toEqual(['b'])
    const last = pages[pages.length - 1] as { through: number }
    // through passes c's change too: the client does not ask for it again.
    expect(last.through).toBe(seen + 2)
    // Nothing changed since: an empty page with through = the cursor.
    again.catchUp(last.through)
    const empty = await again.next(
      (f) => f.kind === 'changes' && f.through === last.through && f.changes.length === 0,
    )
    expect(empty.frame).toMatchObject({ more: false })
  })

  it('WS-RELAY-8: junk frames close the socket with MalformedMessage; the relay keeps serving everyone else', async () => {
    await start()
    const good = await open('team')
    const doc = good.subscribe('d')
    const junk: Uint8Array[] = [
      new Uint8Array([99]),
      new Uint8Array([]),
      new Uint8Array([1, 0]),
      new Uint8Array([WorkspaceFrameKind.Changed, 1, 97, 1]),
      new Uint8Array([3, 0xff]),
    ]
    for (const bytes of junk) {
      const bad = await open('team')
      bad.send(bytes)
      expect(await bad.closed).toBe(CloseCode.MalformedMessage)
    }
    const text = await open('team')
    text.ws.send('a text frame')
    expect(await text.closed).toBe(CloseCode.MalformedMessage)
    // A malformed per-document message is that document's problem: REFUSED, the socket stays.
    const inner = await open('team')
    inner.subscribe('d')
    inner.send(encodeDocFrame('d', new Uint8Array([0, 2, 0xff])))
    expect((await inner.next(refusedFor('d'))).frame).toMatchObject({ code: CloseCode.MalformedMessage })
    doc.getText('t').insert(0, 'still served')
    await textEquals(stock('team/d').doc, 'still served')
  })

  it('WS-RELAY-9: a document subscribed and then unsubscribed leaves no room loaded', async () => {
    await start({ relay: { idleUnloadMs: 0 } })
    const ws = await open('team')
    ws.subscribe('idle').getText('t').insert(0, 'x')
    await ws.next(changedFor('idle'))
    const loaded = async () => {
      const text = await (srv as TestServer).server.metrics.render()
      return Number(/^weft_relay_docs_loaded (\d+)/m.exec(text)?.[1])
    }
    expect(await loaded()).toBe(1)
    ws.unsubscribe('idle')
    await vi.waitFor(async () => expect(await loaded()).toBe(0))
    // Subscribing again loads it again, with its content.
    ws.docs.delete('idle')
    ws.subscribe('idle')
    await ws.text('idle', 'x')
    expect(await loaded()).toBe(1)
  })

  it('WS-RELAY-1: a path that names no valid workspace is refused with 404; workspacePath: false serves none', async () => {
    await start()
    await expect(WorkspaceTestClient.open(`${srv?.ws}/workspace/`)).rejects.toThrow(/404/)
    await expect(WorkspaceTestClient.open(`${srv?.ws}/workspace/${'w'.repeat(129)}`)).rejects.toThrow(/404/)
    await srv?.close()
    srv = await startTestServer({ workspacePath: false })
    await expect(WorkspaceTestClient.open(`${srv.ws}/workspace/team`)).rejects.toThrow(/404/)
  })

  it('WS-RELAY-2: updates a document receives before it is subscribed are in its sync; edits of one socket reach another', async () => {
    await start()
    const one = await open('team')
    one.subscribe('shared').getText('t').insert(0, 'hello')
    await one.next(changedFor('shared'))
    const two = await open('team')
    two.subscribe('shared')
    await two.text('shared', 'hello')
    one.docs.get('shared')?.getText('t').insert(5, ' world')
    await two.text('shared', 'hello world')
  })
})

describe('workspace endpoint: durable acks', () => {
  it('WS-RELAY-2: a Weft member is acknowledged per document once its update is durable (SYNC-4), in DOC frames', async () => {
    await start()
    const ws = await open('team')
    const hello = {
      version: PROTOCOL_VERSION,
      features: Feature.Ack | Feature.Chunk,
      maxMessageSize: 1 << 20,
    }
    ws.subscribe('a', hello)
    ws.subscribe('b', hello)
    await ws.synced('a')
    await ws.synced('b')
    const edit = new Y.Doc()
    edit.getText('t').insert(0, 'acknowledged')
    ws.send(encodeDocFrame('b', encodeSyncUpdate(Y.encodeStateAsUpdate(edit), 7)))
    const ack = await ws.next(
      (f) => f.kind === 'doc' && f.doc === 'b' && decodeMessage(f.message).type === 'ack',
    )
    expect(ack.frame.kind === 'doc' && decodeMessage(ack.frame.message)).toEqual({ type: 'ack', seq: 7 })
    // Durable: a new reader of the room gets it from the store's state.
    await textEquals(stock('team/b').doc, 'acknowledged')
    expect(
      ws.frames.some(
        (r) => r.frame.kind === 'doc' && r.frame.doc === 'a' && decodeMessage(r.frame.message).type === 'ack',
      ),
    ).toBe(false)
  })
})

describe('workspace endpoint: presence', () => {
  it('WS-RELAY-2: presence is per document, and UNSUBSCRIBE removes it from the room as a closed connection would', async () => {
    await start()
    const ws = await open('team')
    const doc = ws.subscribe('p')
    await ws.synced('p')
    const awareness = new Awareness(doc)
    awareness.setLocalState({ name: 'workspace user' })
    ws.send(encodeDocFrame('p', encodeAwareness(encodeAwarenessUpdate(awareness, [doc.clientID]))))
    const watcher = stock('team/p')
    const other = stock('team/q')
    await watcher.synced()
    await other.synced()
    const states = watcher.provider.awareness.getStates()
    const present = () => states.get(doc.clientID)?.['name'] === 'workspace user'
    await new Promise<void>((resolve) => {
      if (present()) return resolve()
      watcher.provider.awareness.on('change', () => present() && resolve())
    })
    // Not in another document's room.
    expect(other.provider.awareness.getStates().has(doc.clientID)).toBe(false)
    ws.unsubscribe('p')
    await new Promise<void>((resolve) => {
      if (!states.has(doc.clientID)) return resolve()
      watcher.provider.awareness.on('change', () => !states.has(doc.clientID) && resolve())
    })
    awareness.destroy()
  })
})

describe('workspace endpoint over a store without a WorkspaceIndex', () => {
  it('WS-RELAY-7: CATCH_UP answers one page of every readable document the store lists, seq 0 and through 0; documents still sync', async () => {
    const sqlite = new SqliteDocStore({ path: ':memory:' })
    const hidden = new Set<PropertyKey>(['workspaceSeq', 'changesSince', 'workspaces'])
    // A custom DocStore: the DocStore contract only.
    const store = new Proxy(sqlite, {
      get: (target, key) => {
        if (hidden.has(key)) return undefined
        const value: unknown = Reflect.get(target, key, target)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    expect(isWorkspaceIndexed(store)).toBe(false)
    const stored = new Set<string>()
    let storedAll: () => void = () => undefined
    const allStored = new Promise<void>((resolve) => (storedAll = resolve))
    await start({
      store,
      auth: { secret: SECRET },
      hooks: {
        onStored: (ctx) => {
          stored.add(ctx.room)
          if (stored.size === 3) storedAll()
        },
      },
    })
    const writer = await open('team', `?token=${await token({ '*': 'write' })}`)
    writer.subscribe('a')
    writer.subscribe('b')
    ;(await writer.synced('a')).getText('t').insert(0, 'a')
    ;(await writer.synced('b')).getText('t').insert(0, 'b')
    const reader = stock('other/x', { token: await token({ '*': 'write' }) })
    await reader.synced()
    reader.doc.getText('t').insert(0, 'x')
    await allStored
    expect((await sqlite.list()).sort()).toEqual(['other/x', 'team/a', 'team/b'])

    const ws = await open('team', `?token=${await token({ 'team/a': 'read' })}`)
    ws.catchUp(0)
    const page = await ws.next((f) => f.kind === 'changes')
    expect(page.frame).toEqual({ kind: 'changes', changes: [{ doc: 'a', seq: 0 }], through: 0, more: false })
    // No sequence: nothing is pushed, yet the documents sync.
    const a = ws.subscribe('a')
    await ws.text('a', 'a')
    expect(a.getText('t').toString()).toBe('a')
    expect(ws.frames.some((r) => r.frame.kind === 'changed')).toBe(false)
  })
})

describe('workspace endpoint: a store that fails', () => {
  it('WS-RELAY-6: a failed read of the starting point is read again at the next commit; pushes resume', async () => {
    const sqlite = new SqliteDocStore({ path: ':memory:' })
    let failures = 1
    const store = new Proxy(sqlite, {
      get: (target, key) => {
        if (key === 'workspaceSeq') {
          return (workspace: string) => {
            if (failures === 0) return target.workspaceSeq(workspace)
            failures--
            return Promise.reject(new Error('the store is away'))
          }
        }
        const value: unknown = Reflect.get(target, key, target)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    let storedA: () => void = () => undefined
    const aStored = new Promise<void>((resolve) => (storedA = resolve))
    await start({ store, hooks: { onStored: (ctx) => void (ctx.room === 'team/a' && storedA()) } })
    const ws = await open('team')
    // Answered (the catch-up does not wait for ever on the failed read).
    ws.catchUp(0)
    const first = await ws.next((f) => f.kind === 'changes')
    expect(failures).toBe(0)
    const writer = await open('team')
    writer.subscribe('a')
    ;(await writer.synced('a')).getText('t').insert(0, 'first')
    await aStored
    // The commit read the starting point again (after itself); a catch-up answers once it is read.
    ws.catchUp(0)
    await ws.next((f) => f.kind === 'changes', first.index + 1)
    writer.subscribe('b')
    ;(await writer.synced('b')).getText('t').insert(0, 'second')
    await ws.next(changedFor('b'))
  })
})
