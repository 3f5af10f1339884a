import { afterEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { WebSocket } from 'ws'
import { CloseCode, type DocId, type WeftError } from '@weft/core'
import { encodeChanged, encodeChanges, encodeDocFrame, encodeRefused } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc } from '../../src/index.js'
import type { ConnectionError, WebSocketConstructor } from '../../src/websocket/index.js'
import { WORKSPACE_CURSOR_META, WorkspaceSocket } from '../../src/workspace/WorkspaceSocket.js'
import { once, startFakeWorkspaceRelay } from './socketFakeRelay.js'

const WS: WebSocketConstructor = WebSocket
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const setup = async (options: Partial<ConstructorParameters<typeof WorkspaceSocket>[0]> = {}) => {
  const relay = await startFakeWorkspaceRelay()
  const link = new WorkspaceSocket({
    url: relay.url,
    workspace: 'team',
    WebSocketPolyfill: WS,
    minReconnectMs: 1,
    random: () => 0.5,
    onlineEvents: null,
    ...options,
  })
  cleanups.push(() => link.close(), relay.close)
  return { relay, link }
}

const bytes = (...b: number[]) => Uint8Array.from(b)

describe('WorkspaceSocket', () => {
  it('WS-CLIENT-LINK-1 one socket to <url>/workspace/<W> with the token carries every document', async () => {
    const { relay, link } = await setup({ token: 'abc' })
    const a = link.transportFor('a')
    const b = link.transportFor('b')
    expect(a.room).toBe('team/a')
    const joined = once(b, 'peer-joined')
    a.connect()
    b.connect()
    const conn = await relay.nthConnection(1)
    expect(conn.url).toBe('/workspace/team?token=abc')
    await conn.next('subscribe', (f) => f.doc === 'a')
    await conn.next('subscribe', (f) => f.doc === 'b')
    await joined
    expect(relay.connections.length).toBe(1)
    expect(link.status).toBe('connected')
    expect([a.status, b.status]).toEqual(['connected', 'connected'])
  })

  it('WS-CLIENT-LINK-2 a document transport: messages travel as DOC frames of its document, both ways', async () => {
    const { relay, link } = await setup()
    const a = link.transportFor('a')
    const b = link.transportFor('b')
    a.connect()
    b.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('subscribe', (f) => f.doc === 'b')
    a.send(bytes(1, 2, 3))
    const sent = await conn.next('doc')
    expect(sent.doc).toBe('a')
    expect([...sent.message]).toEqual([1, 2, 3])
    const toA: number[][] = []
    a.on('message', ({ data }) => toA.push([...data]))
    const got = once<{ data: Uint8Array }>(b, 'message')
    conn.send(encodeDocFrame('b', bytes(9, 8)))
    expect([...(await got).data]).toEqual([9, 8])
    expect(toA).toEqual([])
    const left = once<{ reason: string }>(a, 'peer-left')
    a.disconnect()
    await conn.next('unsubscribe', (f) => f.doc === 'a')
    expect((await left).reason).toBe('client disconnect')
    expect(a.status).toBe('disconnected')
    a.send(bytes(7)) // unsubscribed: nothing goes out
    b.send(bytes(6))
    expect((await conn.next('doc')).doc).toBe('b')
  })

  it('WS-CLIENT-LINK-2 each document runs its ordinary sync session over the shared socket', async () => {
    // The fake relay pipes DOC frames of a document between two workspace sockets once both subscribed it.
    const relay = await startFakeWorkspaceRelay()
    cleanups.push(relay.close)
    const subscribed = new Map<string, Set<number>>()
    const waiting: Array<{ from: number; doc: string; frame: Uint8Array }> = []
    const pipe = () => {
      for (const w of waiting.splice(0)) {
        const others = [...(subscribed.get(w.doc) ?? [])].filter((i) => i !== w.from)
        if (others.length === 0) waiting.push(w)
        for (const i of others) relay.connections[i]!.send(w.frame)
      }
    }
    const watch = async (i: number) => {
      const conn = await relay.nthConnection(i + 1)
      let done = 0
      const step = () => {
        for (; done < conn.frames.length; done++) {
          const f = conn.frames[done]!
          if (f.kind === 'subscribe') subscribed.set(f.doc, (subscribed.get(f.doc) ?? new Set()).add(i))
          else if (f.kind === 'doc')
            waiting.push({ from: i, doc: f.doc, frame: encodeDocFrame(f.doc, f.message) })
        }
        pipe()
      }
      conn.socket.on('message', step)
      step()
    }
    const client = async (i: number) => {
      const link = new WorkspaceSocket({ url: relay.url, workspace: 'team', WebSocketPolyfill: WS })
      const docs = await Promise.all(
        ['notes', 'todo'].map((d) => openDoc({ docId: `team/${d}`, relay: link.transportFor(d) })),
      )
      await watch(i)
      cleanups.unshift(async () => {
        for (const d of docs) await d.destroy()
        await link.close()
      })
      return docs
    }
    const [notesA, todoA] = await client(0)
    const [notesB, todoB] = await client(1)
    const text = (d: { doc: Y.Doc }) => d.doc.getText('t').toString()
    const arrived = (d: { doc: Y.Doc }, want: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (text(d) !== want) return
          d.doc.off('update', check)
          resolve()
        }
        d.doc.on('update', check)
        check()
      })
    notesA!.doc.getText('t').insert(0, 'hello')
    todoB!.doc.getText('t').insert(0, 'buy milk')
    await Promise.all([arrived(notesB!, 'hello'), arrived(todoA!, 'buy milk')])
    expect(relay.connections.length).toBe(2) // one socket per client for both documents
  })

  it('WS-CLIENT-LINK-2 a document the session dropped after bad input is subscribed again after the reconnect delay', async () => {
    const { relay, link } = await setup()
    const a = link.transportFor('a')
    a.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('subscribe', (f) => f.doc === 'a')
    if (a.peers.size === 0) await once(a, 'peer-joined')
    const left = once<{ reason: string }>(a, 'peer-left')
    const rejoined = once(a, 'peer-joined')
    a.disconnect([...a.peers][0])
    expect((await left).reason).toBe('dropped by client')
    await conn.next('unsubscribe', (f) => f.doc === 'a')
    await conn.next('subscribe', (f) => f.doc === 'a')
    await rejoined
    expect([a.status, relay.connections.length]).toEqual(['connected', 1])
  })

  it('WS-CLIENT-LINK-3 REFUSED stops that document only, reported as connection-error; the others go on', async () => {
    const { relay, link } = await setup()
    const a = link.transportFor('a')
    const secret = link.transportFor('secret')
    a.connect()
    secret.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('subscribe', (f) => f.doc === 'secret')
    const errors: ConnectionError[] = []
    secret.on('connection-error', (e) => errors.push(e))
    const left = once<{ reason: string }>(secret, 'peer-left')
    conn.send(encodeRefused('secret', CloseCode.Forbidden, 'not granted'))
    expect((await left).reason).toBe('refused 4005 Forbidden')
    expect(errors).toEqual([{ code: 4005, reason: 'forbidden', name: 'Forbidden', willRetry: false }])
    expect(secret.status).toBe('disconnected')
    expect([a.status, link.status]).toEqual(['connected', 'connected'])
    a.send(bytes(1))
    expect((await conn.next('doc')).doc).toBe('a')
    // A WeftDoc over the transport reports the refusal as auth-denied, like a per-room connection's close.
    const other = link.transportFor('other')
    const handle = await openDoc({ docId: 'team/other', relay: other })
    cleanups.unshift(() => handle.destroy())
    await conn.next('subscribe', (f) => f.doc === 'other')
    const failed = new Promise<WeftError>((r) => handle.once('error', ({ error }) => r(error)))
    conn.send(encodeRefused('other', CloseCode.Unauthorized, 'no token'))
    expect((await failed).code).toBe('auth-denied')
  })

  it('WS-CLIENT-LINK-3 a transient REFUSED (TooManyRooms) is no connection-error; the document subscribes again on reconnect', async () => {
    const { relay, link } = await setup()
    const a = link.transportFor('a')
    a.connect()
    const first = await relay.nthConnection(1)
    await first.next('subscribe')
    const errors: ConnectionError[] = []
    a.on('connection-error', (e) => errors.push(e))
    const left = once<{ reason: string }>(a, 'peer-left')
    first.send(encodeRefused('a', CloseCode.TooManyRooms, 'too many documents'))
    expect((await left).reason).toBe('refused 4008 TooManyRooms')
    expect([a.status, errors]).toEqual(['connecting', []])
    first.socket.close(CloseCode.ServerShutdown, 'restart')
    await (await relay.nthConnection(2)).next('subscribe', (f) => f.doc === 'a')
  })

  it('WS-CLIENT-LINK-5 a reconnect catches up, then subscribes again exactly the connected documents', async () => {
    const { relay, link } = await setup()
    const open = link.transportFor('open')
    const closed = link.transportFor('closed')
    link.transportFor('never') // catalogued, never connected: costs nothing
    open.connect()
    closed.connect()
    const first = await relay.nthConnection(1)
    await first.next('subscribe', (f) => f.doc === 'closed')
    closed.disconnect()
    await first.next('unsubscribe')
    await first.next('catch-up')
    first.send(encodeChanges([], 3, false))
    await once(link, 'caught-up')
    const left = once<{ reason: string }>(open, 'peer-left')
    first.socket.close(CloseCode.ServerShutdown, 'restart')
    expect((await left).reason).toBe('closed 4000 ServerShutdown')
    const second = await relay.nthConnection(2)
    await second.next('subscribe', (f) => f.doc === 'open')
    // On open, the catch-up goes out first (the relay lists the changed documents before it answers the
    // subscriptions' handshakes), then one SUBSCRIBE per connected document.
    expect(second.frames.map((f) => f.kind)).toEqual(['catch-up', 'subscribe'])
    expect(second.frames[0]).toMatchObject({ cursor: 3 })
    expect(second.frames[1]).toEqual({ kind: 'subscribe', doc: 'open', deletions: null })
    if (open.status !== 'connected') await once(open, 'peer-joined')
    expect(closed.status).toBe('disconnected')
  })

  it('WS-CLIENT-LINK-1 a backoff wait is cut short by a document transport’s connect() and by the online event', async () => {
    const network = new EventTarget()
    const HOUR = 3_600_000
    const { relay, link } = await setup({
      minReconnectMs: HOUR,
      maxReconnectMs: HOUR,
      random: () => 0.99,
      onlineEvents: network,
    })
    const a = link.transportFor('a')
    a.connect()
    const first = await relay.nthConnection(1)
    await first.next('subscribe')
    first.socket.close(CloseCode.ServerShutdown, 'restart')
    await once(link, 'status', (e: { status: string }) => e.status === 'connecting')
    a.connect() // e.g. WeftDoc.connect(): without the shared reconnect logic this waits 0.99 h
    await (await relay.nthConnection(2)).next('subscribe')
    ;(await relay.nthConnection(2)).socket.close(CloseCode.ServerShutdown, 'restart')
    await once(link, 'status', (e: { status: string }) => e.status === 'connecting')
    network.dispatchEvent(new Event('online'))
    await (await relay.nthConnection(3)).next('subscribe')
  })

  it('WS-CLIENT-LINK-1 a final close of the socket is every connected document’s connection-error', async () => {
    const { relay, link } = await setup({ token: 'bad' })
    const a = link.transportFor('a')
    a.connect()
    const conn = await relay.nthConnection(1)
    const fromLink = once<ConnectionError>(link, 'connection-error')
    const fromDoc = once<ConnectionError>(a, 'connection-error')
    conn.socket.close(CloseCode.Unauthorized, 'bad token')
    expect(await fromLink).toMatchObject({ code: 4004, reason: 'unauthorized', willRetry: false })
    expect(await fromDoc).toMatchObject({ code: 4004, reason: 'unauthorized' })
    expect([link.status, a.status]).toEqual(['disconnected', 'disconnected'])
  })

  it('WS-CLIENT-LINK-7 a frame that is not one: error event, and the socket reconnects', async () => {
    const { relay, link } = await setup()
    link.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('catch-up')
    const failed = once<{ error: WeftError }>(link, 'error')
    conn.send(bytes(99, 1))
    expect((await failed).error.code).toBe('malformed-message')
    expect(await conn.closed).toEqual({ code: CloseCode.MalformedMessage })
    await (await relay.nthConnection(2)).next('catch-up')
  })
})

describe('WorkspaceSocket catch-up', () => {
  const CURSOR_DOC = 'team/.catalogue' as DocId

  it('WS-CLIENT-LINK-4 catches up from the stored cursor, page by page; stores only a contiguous handled run', async () => {
    const store = new MemoryDocStore()
    await store.setMeta(CURSOR_DOC, WORKSPACE_CURSOR_META, '5')
    const { relay, link } = await setup({ store, pageSize: 2 })
    const changed: string[] = []
    link.on('changed', ({ doc, seq }) => changed.push(`${doc}@${seq}`))
    const caughtUp = once<{ through: number }>(link, 'caught-up')
    link.connect()
    const conn = await relay.nthConnection(1)
    expect(await conn.next('catch-up')).toEqual({ kind: 'catch-up', cursor: 5, pageSize: 2 })
    conn.send(
      encodeChanges(
        [
          { doc: 'a', seq: 7 },
          { doc: 'b', seq: 8 },
        ],
        8,
        true,
      ),
    )
    conn.send(encodeChanges([{ doc: 'c', seq: 10 }], 11, false))
    expect(await caughtUp).toEqual({ through: 11 })
    expect(changed).toEqual(['a@7', 'b@8', 'c@10'])
    link.handled(8)
    link.handled(10)
    // 6 needs nothing (covered by `through`: its document changed again later); 7 is not handled, so 8.. wait.
    expect(link.cursor).toBe(6)
    link.handled(7)
    expect(link.cursor).toBe(11) // 9 and 11 are covered like 6
    await link.close()
    expect((await store.load(CURSOR_DOC))?.meta[WORKSPACE_CURSOR_META]).toBe('11')
    // The next socket (a restart) asks from there.
    const next = new WorkspaceSocket({ url: relay.url, workspace: 'team', store, WebSocketPolyfill: WS })
    cleanups.unshift(() => next.close())
    next.connect()
    expect(await (await relay.nthConnection(2)).next('catch-up')).toMatchObject({ cursor: 11 })
  })

  it('WS-CLIENT-LINK-4 a relay whose sequence is behind the cursor (a reset store) is caught up from 0', async () => {
    const store = new MemoryDocStore()
    await store.setMeta(CURSOR_DOC, WORKSPACE_CURSOR_META, '50')
    const { relay, link } = await setup({ store })
    const changed: string[] = []
    link.on('changed', ({ doc, seq }) => changed.push(`${doc}@${seq}`))
    link.connect()
    const conn = await relay.nthConnection(1)
    expect(await conn.next('catch-up')).toMatchObject({ cursor: 50 })
    conn.send(encodeChanges([], 10, false)) // the relay's sequence ends at 10
    // Without the reset, changes 11..50 would be taken for old ones and never reported.
    expect(await conn.next('catch-up')).toMatchObject({ cursor: 0 })
    const caughtUp = once<{ through: number }>(link, 'caught-up')
    conn.send(
      encodeChanges(
        [
          { doc: 'a', seq: 3 },
          { doc: 'b', seq: 10 },
        ],
        10,
        false,
      ),
    )
    expect(await caughtUp).toEqual({ through: 10 })
    conn.send(encodeChanged('c', 11))
    await once(link, 'changed', (e: { seq: number }) => e.seq === 11)
    expect(changed).toEqual(['a@3', 'b@10', 'c@11'])
    link.handled(3)
    link.handled(10)
    await link.close()
    expect((await store.load(CURSOR_DOC))?.meta[WORKSPACE_CURSOR_META]).toBe('10')
  })

  it('WS-CLIENT-LINK-4 a change reported but not handled before a restart is reported again', async () => {
    const store = new MemoryDocStore()
    const { relay, link } = await setup({ store })
    link.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('catch-up')
    conn.send(encodeChanges([], 2, false))
    await once(link, 'caught-up')
    const got: number[] = []
    link.on('changed', ({ seq }) => got.push(seq))
    conn.send(encodeChanged('a', 3))
    conn.send(encodeChanged('b', 4))
    await once(link, 'changed', (e: { seq: number }) => e.seq === 4)
    link.handled(4) // 3 never handled (the app crashed while fetching a)
    await link.close()
    expect((await store.load(CURSOR_DOC))?.meta[WORKSPACE_CURSOR_META]).toBe('2')
    const next = new WorkspaceSocket({ url: relay.url, workspace: 'team', store, WebSocketPolyfill: WS })
    cleanups.unshift(() => next.close())
    next.connect()
    expect(await (await relay.nthConnection(2)).next('catch-up')).toMatchObject({ cursor: 2 })
  })

  it('WS-CLIENT-LINK-4 CHANGED pushes are reported; a gap asks CATCH_UP again; nothing is reported twice', async () => {
    const { relay, link } = await setup()
    link.connect()
    const conn = await relay.nthConnection(1)
    expect(await conn.next('catch-up')).toMatchObject({ cursor: 0 })
    conn.send(encodeChanges([{ doc: 'a', seq: 2 }], 2, false))
    await once(link, 'caught-up')
    const changed: string[] = []
    link.on('changed', ({ doc, seq }) => changed.push(`${doc}@${seq}`))
    conn.send(encodeChanged('a', 3))
    conn.send(encodeChanged('b', 5)) // 4 is missing
    expect(await conn.next('catch-up')).toMatchObject({ cursor: 3 })
    const caughtUp = once<{ through: number }>(link, 'caught-up')
    conn.send(
      encodeChanges(
        [
          { doc: 'x', seq: 4 },
          { doc: 'b', seq: 5 },
        ],
        5,
        false,
      ),
    )
    expect(await caughtUp).toEqual({ through: 5 })
    expect(changed).toEqual(['a@3', 'b@5', 'x@4'])
    for (const seq of [2, 3, 4, 5]) link.handled(seq)
    expect(link.cursor).toBe(5)
    expect(conn.frames.filter((f) => f.kind === 'catch-up')).toHaveLength(2)
  })
  it('WS-CLIENT-LINK-4 a relay without a change sequence lists every document with seq 0: reported at each catch-up', async () => {
    const { relay, link } = await setup()
    const changed: string[] = []
    link.on('changed', ({ doc, seq }) => changed.push(`${doc}@${seq}`))
    link.connect()
    const conn = await relay.nthConnection(1)
    await conn.next('catch-up')
    conn.send(
      encodeChanges(
        [
          { doc: 'a', seq: 0 },
          { doc: 'b', seq: 0 },
        ],
        0,
        false,
      ),
    )
    await once(link, 'caught-up')
    link.handled(0)
    conn.socket.close(CloseCode.ServerShutdown, 'restart')
    const second = await relay.nthConnection(2)
    expect(await second.next('catch-up')).toMatchObject({ cursor: 0 })
    second.send(encodeChanges([{ doc: 'a', seq: 0 }], 0, false))
    await once(link, 'caught-up')
    expect(changed).toEqual(['a@0', 'b@0', 'a@0'])
    expect(link.cursor).toBe(0)
  })
})
