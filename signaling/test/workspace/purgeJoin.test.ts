import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { pino } from 'pino'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { applyStoredDoc, CloseCode, docId, type DocStore } from '@weft/core'
import {
  decodeWorkspaceFrame,
  encodeDocFrame,
  encodeSubscribe,
  encodeSyncStep1,
  encodeSyncUpdate,
  type WorkspaceFrame,
} from '@weft/core/protocol'
import type { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftRelay, RoomGrant } from '../../src/index.js'
import { memoryRelaySocketPair, type MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { attachWhen } from '../../src/workspace/attachWhen.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'
import { DAY, seededWorkspaceStore } from './seededWorkspace.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  for (const fn of cleanups.splice(0)) await fn()
  await srv?.close()
  srv = null
})

/**
 * A store holding workspace `team` as a relay left it: `gone` deleted, and seen deleted by the relay, two days ago
 * (past a retention of a day), `live` not deleted. Its catalogue's `load` waits for `release()` (the relay's first
 * read of it is slow) and rejects while `failing` (the store cannot read it).
 */
const seededStore = async () => {
  const inner = await seededWorkspaceStore()
  let release: () => void = () => undefined
  const control = {
    gate: new Promise<void>((resolve) => (release = resolve)) as Promise<void> | null,
    release: () => release(),
    failing: false,
  }
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'load') {
        return async (id: Parameters<DocStore['load']>[0]) => {
          if (id === 'team/.catalogue') {
            if (control.gate) await control.gate
            if (control.failing) throw new Error('the store cannot read the catalogue')
          }
          return target.load(id)
        }
      }
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return { store, inner, control }
}

/** A relay over `store` whose sockets the test hands over in memory; closed (with the store) after the test. */
const memoryRelay = async (store: DocStore, inner: SqliteDocStore) => {
  const relay = createWeftRelay({ store, logger: quiet, commitWindowMs: 5, workspaceRetention: DAY })
  await relay.start()
  cleanups.push(async () => {
    await relay.close()
    await inner.close()
  })
  return relay
}

const frameOf = (message: Uint8Array): WorkspaceFrame | null => {
  const decoded = decodeWorkspaceFrame(message)
  return decoded.ok ? decoded.frame : null
}

/** The first frame the relay sent about document `doc` (a sync DOC frame, or REFUSED). */
const firstAbout = async (client: MemoryRelayClient, doc: string): Promise<WorkspaceFrame | null> =>
  frameOf(
    await client.next((m) => {
      const f = frameOf(m)
      return f !== null && 'doc' in f && f.doc === doc
    }),
  )

/** An update writing `text` into a fresh document's text `t`. */
const textUpdate = (text: string): Uint8Array => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** The text `t` of document `id` as `store` holds it. */
const textOf = async (store: DocStore, id: string): Promise<string | null> => {
  const stored = await store.load(docId(id))
  if (!stored) return null
  const doc = new Y.Doc()
  applyStoredDoc(doc, stored, null)
  return doc.getText('t').toString()
}

/** A y-websocket sync update message. */
const syncUpdate = (update: Uint8Array): Uint8Array => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 0)
  syncProtocol.writeUpdate(enc, update)
  return encoding.toUint8Array(enc)
}

/** Opens `url`, sends `message` once open, and resolves with the close code and reason. */
const closeOf = (url: string, message: Uint8Array): Promise<[number, string]> =>
  new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('open', () => ws.send(message))
    ws.on('error', () => undefined)
    ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()]))
  })

describe('joins wait for the relay to read the catalogue (WS-PURGE-9)', () => {
  it('WS-PURGE-9: right after a restart, a SUBSCRIBE to a document past its retention waits for the catalogue read and is refused; nothing of it is stored', async () => {
    const { store, inner, control } = await seededStore()
    const relay = await memoryRelay(store, inner)
    const { relay: socket, client } = memoryRelaySocketPair()
    relay.accept(socket, { workspace: 'team', grant: RoomGrant.open() })
    // A replica that kept `gone` offline subscribes and writes it back at once, before the catalogue was read.
    client.send(encodeSubscribe('gone'))
    client.send(encodeDocFrame('gone', encodeSyncStep1(Y.encodeStateVector(new Y.Doc()))))
    client.send(encodeDocFrame('gone', encodeSyncUpdate(textUpdate('WRITTEN-BACK'))))
    control.release()
    expect(await firstAbout(client, 'gone')).toMatchObject({
      kind: 'refused',
      code: CloseCode.Forbidden,
      reason: 'document deleted',
    })
    // The socket is served: a live document syncs.
    client.send(encodeSubscribe('live'))
    client.send(encodeDocFrame('live', encodeSyncStep1(Y.encodeStateVector(new Y.Doc()))))
    expect(await firstAbout(client, 'live')).toMatchObject({ kind: 'doc' })
    await relay.close()
    expect(await inner.load(docId('team/gone'))).toBeNull()
  })

  it('WS-PURGE-9: right after a restart, a socket handed to accept({ room }) for a document past its retention waits for the read and is closed Forbidden; nothing is stored', async () => {
    const { store, inner, control } = await seededStore()
    const relay = await memoryRelay(store, inner)
    const { relay: socket, client } = memoryRelaySocketPair()
    relay.accept(socket, { room: 'team/gone', grant: RoomGrant.open() })
    client.send(syncUpdate(textUpdate('WRITTEN-BACK')))
    control.release()
    expect(await client.closed).toMatchObject({ code: CloseCode.Forbidden, reason: 'document deleted' })
    await relay.close()
    expect(await inner.load(docId('team/gone'))).toBeNull()
  })

  it('WS-PURGE-9: while the catalogue cannot be read, SUBSCRIBE and /relay/W/D to its documents are refused retryably (nothing stored); once it reads, past-retention documents are refused for good', async () => {
    const { store, inner, control } = await seededStore()
    control.gate = null
    control.failing = true
    srv = await startTestServer({ store, workspaceRetention: DAY })
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(ws)
    ws.subscribe('gone').getText('t').insert(0, 'WRITTEN-BACK')
    const about = (doc: string) => (f: WorkspaceFrame) => 'doc' in f && f.doc === doc
    const first = await ws.next(about('gone'))
    expect(first.frame).toMatchObject({
      kind: 'refused',
      code: CloseCode.InternalError,
      reason: 'deletions not read',
    })
    const upgrade = await closeOf(`${srv.ws}/relay/team/gone`, syncUpdate(textUpdate('WRITTEN-BACK')))
    expect(upgrade).toEqual([CloseCode.InternalError, 'deletions not read'])
    expect(await textOf(inner, 'team/gone')).toBe('text of gone')

    control.failing = false
    const again = await closeOf(`${srv.ws}/relay/team/gone`, syncUpdate(textUpdate('WRITTEN-BACK')))
    expect(again).toEqual([CloseCode.Forbidden, 'document deleted'])
    ws.subscribe('gone')
    const refused = await ws.next((f) => f.kind === 'refused' && f.doc === 'gone', first.index + 1)
    expect(refused.frame).toMatchObject({ code: CloseCode.Forbidden, reason: 'document deleted' })
  })
})

describe('a workspace socket held until the catalogue is read (attachWhen)', () => {
  /** A relay socket attached by `attachWhen`, held until `release()`: `seen` lists what reached the handler. */
  const held = () => {
    const { relay: socket, client } = memoryRelaySocketPair()
    const seen: string[] = []
    let release: () => void = () => undefined
    const ready = new Promise<void>((resolve) => (release = resolve))
    attachWhen(socket, ready, {
      onMessage: (data) => void seen.push(data.toString()),
      onClose: () => void seen.push('closed'),
    })
    const send = (text: string) => client.send(new TextEncoder().encode(text))
    return {
      socket,
      client,
      seen,
      send,
      release: async () => (release(), await ready, await Promise.resolve()),
    }
  }

  it('WS-PURGE-9: messages that arrive while the read runs are delivered in order once it ends; a close meanwhile reaches the handler then (its messages dropped, as a closed socket drops them)', async () => {
    const a = held()
    a.send('one')
    a.send('two')
    expect(a.seen).toEqual([])
    await a.release()
    expect(a.seen).toEqual(['one', 'two'])
    a.send('three')
    expect(a.seen).toEqual(['one', 'two', 'three'])
    a.client.close()
    expect(a.seen).toEqual(['one', 'two', 'three', 'closed'])

    const b = held()
    b.send('one')
    b.client.close()
    expect(b.seen).toEqual([])
    await b.release()
    expect(b.seen).toEqual(['closed'])
  })

  it("WS-PURGE-9: the kept bytes are charged to the socket's own memory budget (trackInput) and given back once delivered", async () => {
    const a = held()
    a.send('12345')
    a.send('678')
    expect(a.socket.heldInputBytes).toBe(8)
    await a.release()
    expect(a.seen).toEqual(['12345', '678'])
    expect(a.socket.heldInputBytes).toBe(0)
  })

  it("WS-PURGE-9: past the server's input budget (CONN-11) a workspace socket waiting for the read is closed MemoryLimit (retryable)", async () => {
    const { store, control } = await seededStore()
    srv = await startTestServer({
      store,
      workspaceRetention: DAY,
      limits: { maxPendingInputBytes: 64 * 1024 },
    })
    cleanups.push(async () => control.release())
    const ws = new WebSocket(`${srv.ws}/workspace/team`)
    ws.on('error', () => undefined)
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)))
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send(encodeSubscribe('live'))
    for (let i = 0; i < 3; i++) ws.send(encodeDocFrame('live', encodeSyncUpdate(new Uint8Array(30 * 1024))))
    expect(await closed).toBe(CloseCode.MemoryLimit)
  })
})
