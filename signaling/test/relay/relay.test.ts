import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { SqliteDocStore } from '@weft/sqlite-store'
import { CloseCode, docId } from '@weft/core'
import { encodeAwareness, encodeSyncStep1, encodeSyncUpdate, splitMessage } from '@weft/core/protocol'
import { GatedStore } from '../helpers/GatedStore.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

let srv: TestServer | null = null
const stock: StockClient[] = []
const raw: TestClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(raw.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const gated = () => new GatedStore(new SqliteDocStore({ path: ':memory:' }))
const start = async (options: Parameters<typeof startTestServer>[0] = {}) =>
  (srv = await startTestServer(options))
const client = (room: string, params?: Record<string, string>) => {
  const c = stockClient(`${srv?.ws}/relay`, room, { params })
  stock.push(c)
  return c
}
const weft = async (room: string, hello?: Parameters<typeof WeftTestClient.open>[1]) => {
  const c = await WeftTestClient.open(`${srv?.ws}/relay/${room}`, hello)
  raw.push(c.client)
  return c
}
const rawClient = async (path: string) => {
  const c = await TestClient.open(`${srv?.ws}${path}`)
  raw.push(c)
  return c
}

describe('relay: stock y-websocket 3.1 clients', () => {
  it('RELAY-3.1: two clients in a room sync edits both ways', async () => {
    await start()
    const a = client('doc-1')
    const b = client('doc-1')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'hello')
    await textEquals(b.doc, 'hello')
    b.doc.getText('t').insert(5, ' world')
    await textEquals(a.doc, 'hello world')
  })

  it('RELAY-3.1: rooms are isolated', async () => {
    await start()
    const a = client('room-a')
    const b = client('room-b')
    const a2 = client('room-a')
    await Promise.all([a.synced(), b.synced(), a2.synced()])
    a.doc.getText('t').insert(0, 'only a')
    await textEquals(a2.doc, 'only a')
    expect(b.doc.getText('t').toString()).toBe('')
  })

  it('RELAY-3.1: store and forward: A writes and leaves, B arrives later and gets everything', async () => {
    const store = gated()
    await start({ store })
    const a = client('sf')
    await a.synced()
    const stored = store.nextAppend()
    a.doc.getText('t').insert(0, 'written while B was away')
    await stored
    a.destroy()
    const b = client('sf')
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe('written while B was away')
  })

  it('RELAY-2.1: a client is told synced only after the stored state is loaded', async () => {
    const store = gated()
    const seed = new Y.Doc()
    seed.getText('t').insert(0, 'stored before the server started')
    await store.append(docId('slow'), Y.encodeStateAsUpdate(seed))
    await start({ store })
    const release = store.holdLoads()
    const loading = store.nextLoad()
    const b = client('slow')
    let textAtSync: string | null = null
    b.provider.on('sync', (s: boolean) => {
      if (s) textAtSync = b.doc.getText('t').toString()
    })
    await loading
    expect(b.provider.synced).toBe(false)
    release()
    await b.synced()
    expect(textAtSync).toBe('stored before the server started')
  })

  it('RELAY-2.3: a reconnecting client receives only what it lacks', async () => {
    await start()
    const a = client('diff')
    await a.synced()
    a.doc.getText('t').insert(0, 'x'.repeat(10_000))
    const b = client('diff')
    await b.synced()
    await textEquals(b.doc, 'x'.repeat(10_000))
    b.provider.disconnect()
    a.doc.getText('t').insert(0, 'new')
    const w = await weft('diff')
    // A Weft client with the full old state asks with its state vector: the answer is small.
    Y.applyUpdate(w.doc, Y.encodeStateAsUpdate(b.doc))
    w.client.send(encodeSyncStep1(Y.encodeStateVector(w.doc)))
    await w.next('sync-step2') // answer to the empty hello step 1
    const step2 = await w.next('sync-step2')
    expect(step2.update.byteLength).toBeLessThan(200)
    expect(w.doc.getText('t').toString().startsWith('new')).toBe(true)
  })

  it('RELAY-6.1, RELAY-6.3: presence is relayed and removed when its connection closes', async () => {
    await start()
    const a = client('presence')
    const b = client('presence')
    await Promise.all([a.synced(), b.synced()])
    const seen = new Promise<void>((resolve) => {
      const on = () => {
        if (b.provider.awareness.getStates().get(a.doc.clientID)) {
          b.provider.awareness.off('change', on)
          resolve()
        }
      }
      b.provider.awareness.on('change', on)
    })
    a.provider.awareness.setLocalStateField('user', { name: 'Ada' })
    await seen
    expect(b.provider.awareness.getStates().get(a.doc.clientID)).toEqual({ user: { name: 'Ada' } })
    const gone = new Promise<void>((resolve) => {
      b.provider.awareness.on('change', ({ removed }: { removed: number[] }) => {
        if (removed.includes(a.doc.clientID)) resolve()
      })
    })
    a.provider.ws?.close()
    a.provider.shouldConnect = false
    await gone
  })

  it('RELAY-6.2: a joining client receives the present states', async () => {
    await start()
    const a = client('presence-2')
    await a.synced()
    a.provider.awareness.setLocalStateField('user', 'Ada')
    const w = await weft('presence-2')
    for (;;) {
      const m = await w.next('awareness')
      const probe = new awarenessProtocol.Awareness(new Y.Doc())
      awarenessProtocol.applyAwarenessUpdate(probe, m.update, null)
      const state = probe.getStates().get(a.doc.clientID)
      probe.destroy()
      if (state) {
        expect(state).toEqual({ user: 'Ada' })
        break
      }
    }
  })
})

describe('relay: Weft extensions', () => {
  it('RELAY-3.2: an update is acknowledged only once it is durable', async () => {
    const store = gated()
    await start({ store })
    const w = await weft('acks')
    await w.next('sync-step1')
    await w.next('sync-step2')
    const release = store.holdAppends()
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    src.getText('t').insert(0, 'durable')
    const appendCalled = store.nextAppendCall()
    const seq = w.sendUpdate(updates[0] as Uint8Array)
    await appendCalled
    // A round trip on the same socket after the write started: still no ack while the store holds it.
    w.client.send(encodeSyncStep1(Y.encodeStateVector(w.doc)))
    await w.next('sync-step2')
    expect(w.has('ack')).toBe(false)
    const ack = w.ackAtLeast(seq)
    release()
    expect(await ack).toBe(seq)
    const loaded = await store.load(docId('acks'))
    const check = new Y.Doc()
    for (const u of loaded?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('durable')
  })

  it('RELAY-3.3: updates arriving within one window are written in one append per document', async () => {
    const store = gated()
    await start({ store, commitWindowMs: 30 })
    const w = await weft('batch')
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 20; i++) src.getText('t').insert(0, String(i % 10))
    let last = 0
    for (const u of updates) last = w.sendUpdate(u)
    await w.ackAtLeast(last)
    expect(store.appends).toBeLessThanOrEqual(2)
    expect(srv?.server.metrics.persistSeconds.count).toBe(store.appends)
  })

  it('RELAY-7.1: chunked messages from a Weft client are reassembled', async () => {
    await start()
    const b = client('chunks')
    await b.synced()
    const w = await weft('chunks')
    await w.next('sync-step2')
    const src = new Y.Doc()
    const big = 'y'.repeat(100_000)
    src.getText('t').insert(0, big)
    const pieces = splitMessage(encodeSyncUpdate(Y.encodeStateAsUpdate(src), 1), 16 * 1024, 7)
    expect(pieces.length).toBeGreaterThan(5)
    for (const p of pieces) w.client.send(p)
    expect(await w.ackAtLeast(1)).toBe(1)
    await textEquals(b.doc, big)
  })

  it('RELAY-7.2: the relay chunks large messages for a Weft client that announced a small limit', async () => {
    await start()
    const a = client('chunks-out')
    await a.synced()
    a.doc.getText('t').insert(0, 'z'.repeat(200_000))
    const w = await weft('chunks-out', { maxMessageSize: 32 * 1024 })
    await w.next('sync-step2')
    expect(w.doc.getText('t').toString()).toBe('z'.repeat(200_000))
    expect(w.chunksReceived).toBeGreaterThan(5)
  })
})

describe('relay: malformed input (RELAY-5)', () => {
  const frames: Array<[string, Uint8Array | string]> = [
    ['garbage', new Uint8Array([200, 201, 202, 203, 204])],
    ['unknown message type', new Uint8Array([42])],
    ['truncated sync step 1', new Uint8Array([0, 0, 50, 1, 2])],
    ['undecodable update', encodeSyncUpdate(new Uint8Array([5, 200, 3, 99, 12]))],
    ['bad state vector', encodeSyncStep1(new Uint8Array([3, 1]))],
    ['bad awareness', encodeAwareness(new Uint8Array([1, 5, 1, 3, 123, 123, 123]))],
    ['text frame', 'hello'],
  ]
  it.each(frames)(
    '%s closes that connection with a named code; others keep syncing',
    async (_name, frame) => {
      await start()
      const a = client('victim')
      const b = client('victim')
      await Promise.all([a.synced(), b.synced()])
      const bad = await rawClient('/relay/victim')
      bad.send(frame)
      const closed = await bad.closed
      expect(closed.code).toBe(CloseCode.MalformedMessage)
      a.doc.getText('t').insert(0, 'still fine')
      await textEquals(b.doc, 'still fine')
    },
  )

  it('RELAY-5.2: a message over the relay limit closes with MessageTooLarge', async () => {
    await start({ limits: { maxRelayMessageBytes: 4096 } })
    const bad = await rawClient('/relay/big')
    bad.send(encodeSyncUpdate(new Uint8Array(5000)))
    expect((await bad.closed).code).toBe(CloseCode.MessageTooLarge)
  })

  it('RELAY-5.2: a chunked message announcing more than the limit closes with MessageTooLarge', async () => {
    await start({ limits: { maxRelayMessageBytes: 64 * 1024 } })
    const bad = await weft('big')
    await bad.next('sync-step2')
    const [first] = splitMessage(encodeSyncUpdate(new Uint8Array(200_000)), 16 * 1024, 1)
    bad.client.send(first as Uint8Array)
    expect((await bad.client.closed).code).toBe(CloseCode.MessageTooLarge)
  })
})

describe('relay: slow consumers', () => {
  it('CONN-4: a client that stops reading is closed with SlowConsumer; the others carry on', async () => {
    await start({ limits: { maxBufferedBytes: 64 * 1024 } })
    const slow = await rawClient('/relay/slow')
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
    socket.pause()
    const b = client('slow')
    const w = await weft('slow')
    await Promise.all([w.next('sync-step2'), b.synced()])
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    const metrics = srv?.server.metrics
    for (let i = 0; i < 1000 && metrics?.closes.get({ code: 'SlowConsumer' }) === 0; i++) {
      src.getText('t').insert(0, 'x'.repeat(50_000))
      await w.ackAtLeast(w.sendUpdate(updates[i] as Uint8Array))
    }
    expect(metrics?.closes.get({ code: 'SlowConsumer' })).toBe(1)
    socket.resume()
    expect([CloseCode.SlowConsumer, 1006]).toContain((await slow.closed).code)
    src.getText('t').insert(0, 'after')
    w.sendUpdate(updates[updates.length - 1] as Uint8Array)
    await textEquals(b.doc, src.getText('t').toString())
  })
})

describe('relay: memory and storage', () => {
  it('RELAY-8.1: a document nobody uses is unloaded, and loads again with its content', async () => {
    const store = gated()
    await start({ store, relay: { idleUnloadMs: 0 } })
    const a = client('idle')
    await a.synced()
    const stored = store.nextAppend()
    a.doc.getText('t').insert(0, 'kept')
    await stored
    a.destroy()
    const metrics = srv?.server.metrics
    await new Promise<void>((resolve) => {
      const check = () => ((metrics?.docUnloads.get() ?? 0) >= 1 ? resolve() : setTimeout(check, 5))
      check()
    })
    const b = client('idle')
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe('kept')
    expect(store.loads).toBe(2)
  })

  it('RELAY-3.4: the stored log is compacted past the thresholds and nothing is lost', async () => {
    const store = gated()
    await start({ store, relay: { compaction: { maxUpdates: 5 } } })
    const w = await weft('compact')
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    const compacted = store.nextCompaction()
    for (let i = 0; i < 12; i++) {
      src.getText('t').insert(0, String(i % 10))
      await w.ackAtLeast(w.sendUpdate(updates[i] as Uint8Array))
    }
    await compacted
    const loaded = await store.load(docId('compact'))
    expect(loaded?.snapshot).not.toBeNull()
    expect(loaded?.updates.length ?? 99).toBeLessThan(12)
    const b = client('compact')
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe(src.getText('t').toString())
  })
  it('RELAY-3.4: an insert-only tail is not compacted for its bytes; once something is deleted it is', async () => {
    const store = gated()
    await start({ store, relay: { compaction: { maxUpdates: 1000, maxUpdateBytes: 100, minTailRatio: 0 } } })
    const w = await weft('inserts')
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 4; i++) {
      src.getText('t').insert(0, String(i).repeat(300))
      await w.ackAtLeast(w.sendUpdate(updates[i] as Uint8Array))
    }
    // Each ack follows its durable write, and a compaction due after a write starts before the ack.
    expect(store.compactCalls).toBe(0)
    const compacted = store.nextCompaction()
    src.getText('t').delete(0, 10)
    await w.ackAtLeast(w.sendUpdate(updates[4] as Uint8Array))
    await compacted
    const loaded = await store.load(docId('inserts'))
    expect(loaded?.snapshot).not.toBeNull()
    const b = client('inserts')
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe(src.getText('t').toString())
  })

  it('RELAY-3.7: a joiner right after keystroke edits gets the rebuilt state, not the merged keystrokes', async () => {
    await start()
    const w = await weft('keys')
    await w.next('sync-step2')
    const src = new Y.Doc()
    const text = src.getText('t')
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 400; i++) text.insert(i, String.fromCharCode(97 + (i % 26)))
    for (let i = 0; i < 150; i++) text.delete((i * 7) % text.length, 1)
    let last = 0
    for (const u of updates) last = w.sendUpdate(u)
    await w.ackAtLeast(last)
    const encoded = Y.encodeStateAsUpdate(src).byteLength
    // What the relay would answer without the rebuild: the keystrokes merged, one item each, deleted ones kept.
    expect(Y.mergeUpdates(updates).byteLength).toBeGreaterThan(1.3 * encoded)
    const joiner = await weft('keys')
    const answer = await joiner.next('sync-step2')
    expect(answer.update.byteLength).toBeLessThanOrEqual(encoded + 16)
    expect(joiner.doc.getText('t').toString()).toBe(text.toString())
  })
})
