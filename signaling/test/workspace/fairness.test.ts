import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { decodeMessage, Feature, PROTOCOL_VERSION } from '@weft/core/protocol'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

let srv: TestServer | null = null
const closers: Array<() => unknown> = []

afterEach(async () => {
  for (const close of closers.splice(0)) await close()
  await srv?.close()
  srv = null
})

/** Resolves the first time `room` passes through the hook. */
const signal = () => {
  const waiting = new Map<string, () => void>()
  const seen = new Set<string>()
  return {
    hit: (room: string) => {
      seen.add(room)
      waiting.get(room)?.()
    },
    when: (room: string) =>
      seen.has(room) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(room, resolve)),
  }
}

describe('workspace endpoint: flow control', () => {
  it("WS-RELAY-5: a large document's catch-up does not hold back another document's small update on the same socket", async () => {
    const loaded = signal()
    const stored = signal()
    srv = await startTestServer({
      relay: { chunkSize: 64 * 1024 },
      // The client stops reading for a while: neither a slow consumer nor a dead peer for this test.
      limits: { maxBufferedBytes: 64 << 20, heartbeatTimeoutMs: 60_000 },
      hooks: { onLoad: (ctx) => loaded.hit(ctx.room), onStored: (ctx) => stored.hit(ctx.room) },
    })
    // A 12 MB document: more than the kernel's socket buffers hold, so most of its catch-up waits in the relay.
    const big = new Y.Doc()
    big.getText('t').insert(0, 'x'.repeat(12 << 20))
    await srv.store.append(docId('team/big'), Y.encodeStateAsUpdate(big))

    const writer: StockClient = stockClient(`${srv.ws}/relay`, 'team/small')
    closers.push(() => writer.destroy())
    await writer.synced()
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    closers.push(() => ws.close())
    ws.subscribe('small')
    await ws.synced('small')

    // The client stops reading, then asks for the large document (a Weft peer: its answer comes in 64 KB chunks).
    ws.ws.pause()
    ws.subscribe('big', { version: PROTOCOL_VERSION, features: Feature.Chunk, maxMessageSize: 64 * 1024 })
    await loaded.when('team/big')
    // The answer is queued in the turn the load completes; the small edit comes after it, from another socket.
    writer.doc.getText('t').insert(0, 'small edit')
    await stored.when('team/small')
    const resumedAt = ws.frames.length
    ws.ws.resume()

    const isLastChunk = (message: Uint8Array): boolean => {
      const m = decodeMessage(message)
      return m.type === 'chunk' && m.offset + m.data.byteLength === m.total
    }
    const last = await ws.next(
      (f) => f.kind === 'doc' && f.doc === 'big' && isLastChunk(f.message),
      resumedAt,
    )
    const update = await ws.next(
      (f) => f.kind === 'doc' && f.doc === 'small' && decodeMessage(f.message).type === 'sync-update',
      resumedAt,
    )
    const chunks = ws.frames.filter((r) => r.frame.kind === 'doc' && r.frame.doc === 'big').length
    expect(chunks).toBeGreaterThan(150)
    // Round-robin: the small update went out after at most one more queued chunk, long before the last one.
    expect(update.index).toBeLessThan(last.index)
    // What came before it is what the kernel's socket buffers held when the client paused, plus one chunk.
    const bigBefore = ws.frames
      .slice(0, update.index)
      .filter((r) => r.frame.kind === 'doc' && r.frame.doc === 'big').length
    expect(bigBefore).toBeLessThan(chunks)
  })
})
