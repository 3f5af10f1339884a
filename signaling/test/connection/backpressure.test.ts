import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftPeer } from '../helpers/WeftPeer.js'

/**
 * Issue 12.5: 3,000 one-character transactions in a row are a fast writer, not an abuser. The rate limits are
 * scaled down (burst 100, 2,000 messages/s) so that the run takes about a second and a half instead of the ten
 * seconds the defaults (burst 1,000, 200/s) would take; the shape is the same: the burst is passed 29 times over.
 * `WEFT_TEST_DEFAULT_LIMITS=1` runs them at the defaults.
 */
const LIMITS: { messageBurst?: number; messagesPerSecond?: number } = process.env['WEFT_TEST_DEFAULT_LIMITS']
  ? {}
  : { messageBurst: 100, messagesPerSecond: 2000 }
const EDITS = 3000
/** The least time the relay can take to read them all at the configured rate (minus 10 %: timer granularity). */
const MIN_MS = (0.9 * 1000 * (EDITS - (LIMITS.messageBurst ?? 1000))) / (LIMITS.messagesPerSecond ?? 200)

let srv: TestServer | null = null
let store: SqliteDocStore | null = null
const stock: StockClient[] = []
const peers: WeftPeer[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(peers.splice(0).map((p) => p.close()))
  await srv?.close()
  srv = null
  store = null
})

const start = async () => {
  store = new SqliteDocStore({ path: ':memory:' })
  srv = await startTestServer({ store, limits: LIMITS })
  return srv
}

/** The stored text of `room` (everything the relay made durable), read straight from the store. */
const storedText = async (room: string): Promise<string> => {
  const stored = await (store as SqliteDocStore).load(docId(room))
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

const closes = () => srv?.server.metrics.closes.get({ code: 'RateLimited' }) ?? 0

describe('backpressure instead of RateLimited (CONN-2.1)', () => {
  it('CONN-2.1 a stock y-websocket client writing 3,000 transactions in a row is slowed, never closed', async () => {
    const s = await start()
    const writer = stockClient(`${s.ws}/relay`, 'fast')
    const reader = stockClient(`${s.ws}/relay`, 'fast')
    stock.push(writer, reader)
    await Promise.all([writer.synced(), reader.synced()])
    let disconnects = 0
    writer.provider.on('status', ({ status }: { status: string }) => {
      if (status === 'disconnected') disconnects++
    })
    const text = writer.doc.getText('t')
    const started = performance.now()
    for (let i = 0; i < EDITS; i++) writer.doc.transact(() => text.insert(i, 'x'))
    await textEquals(reader.doc, 'x'.repeat(EDITS))
    // Slowed: the relay read them only as fast as the bucket refilled; and never closed.
    expect(performance.now() - started).toBeGreaterThanOrEqual(MIN_MS)
    expect(disconnects).toBe(0)
    expect(closes()).toBe(0)
    await s.server.close()
    expect(await storedText('fast')).toBe('x'.repeat(EDITS))
  })

  it('CONN-2.1 a Weft client writing 3,000 transactions in a row gets every one acknowledged, never closed', async () => {
    const s = await start()
    const peer = await new WeftPeer('fast-weft').open()
    peers.push(peer)
    const synced = peer.nextSynced()
    await peer.connect(s.ws)
    await synced
    let left = 0
    peer.session.on('peer-left', () => left++)
    const text = peer.doc.getText('t')
    const started = performance.now()
    for (let i = 0; i < EDITS; i++) peer.doc.transact(() => text.insert(i, 'x'))
    const total = peer.session.localChanges
    await new Promise<void>((resolve) => {
      const onAck = ({ localChanges }: { localChanges: number }) => {
        if (localChanges < total) return
        peer.session.off('ack', onAck)
        resolve()
      }
      peer.session.on('ack', onAck)
    })
    expect(performance.now() - started).toBeGreaterThanOrEqual(MIN_MS)
    expect(left).toBe(0)
    expect(closes()).toBe(0)
    await s.server.close()
    expect(await storedText('fast-weft')).toBe('x'.repeat(EDITS))
  })
})
