/**
 * COMPACT-8.1b against a real `weft serve --epoch-reset` (outside review R4, 2026-12-08): the relay resets a
 * document's history three times; a new device (empty store, default epoch mode) then opens it and must sync in the
 * relay's newest epoch in that one open, with the current content. Before, it stopped in the first epoch (`syncing`,
 * `waitingEpoch` one behind the relay, that epoch's old content) and moved on one epoch per reopen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { EpochRecord } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, WebSocketTransport, type WeftDoc } from '../../src/index.js'
import { startWeftServer, type WeftServer } from './support/weftServer.js'

let server: WeftServer
beforeAll(async () => {
  server = await startWeftServer({
    // Resets as soon as a log compaction (every 500 stored updates by default) finds 50 deleted items, 1 per live one.
    args: [
      '--epoch-reset',
      '--epoch-reset-min-deleted',
      '50',
      '--epoch-reset-ratio',
      '1',
      '--epoch-reset-interval-ms',
      '0',
    ],
  })
})
afterAll(async () => {
  await server?.stop()
})

const relay = (room: string) =>
  new WebSocketTransport({ url: server.relayUrl, room, WebSocketPolyfill: WebSocket, minReconnectMs: 20 })

/** Edits `d` into a delete-heavy history until the relay resets it; resolves with the record `d` then switched to. */
const untilReset = async (d: WeftDoc, line: string): Promise<EpochRecord> => {
  const reset = new Promise<EpochRecord>((resolve) => {
    const on = ({ record }: { record: EpochRecord }) => {
      d.off('epoch-changed', on)
      resolve(record)
    }
    d.on('epoch-changed', on)
  })
  const text = d.doc.getText('t')
  text.insert(text.length, line)
  // Past the relay's 1 MiB of tail for a log compaction, 60 deleted items.
  for (let i = 0; i < 60; i++) {
    d.doc.transact(() => text.insert(0, 'q'.repeat(20_000)))
    d.doc.transact(() => text.delete(0, 20_000))
  }
  return reset
}

describe('a new device after several history resets (COMPACT-8.1b)', () => {
  it('COMPACT-8.1b: a new device opens a document weft serve --epoch-reset reset three times: synced in the newest epoch, current content', async () => {
    const writer = await openDoc({
      docId: 'x',
      store: new MemoryDocStore(),
      relay: relay('x'),
      epochs: 'live',
    })
    await writer.whenSynced
    let newest: EpochRecord | null = null
    for (let round = 0; round < 3; round++) newest = await untilReset(writer, `line ${round};`)
    expect(newest?.seq).toBe(3)
    await writer.whenSaved()
    const expected = writer.doc.getText('t').toString()
    expect(expected).toBe('line 0;line 1;line 2;')

    const fresh = await openDoc({ docId: 'x', store: new MemoryDocStore(), relay: relay('x') })
    const doc = fresh.doc
    // Without COMPACT-8.1b the second epoch waits for a reopen: fail on that instead of waiting for a sync that never comes.
    const deferred = new Promise<never>((_resolve, reject) =>
      fresh.on('epoch-available', ({ record }) => reject(new Error(`epoch ${record.seq} deferred`))),
    )
    await Promise.race([fresh.whenSynced, deferred])
    expect(fresh.handle.session.epoch).toBe(newest?.id)
    expect(fresh.doc).toBe(doc)
    expect(doc.getText('t').toString()).toBe(expected)
    expect(fresh.waitingEpoch).toBeNull()
    await fresh.destroy()
    await writer.destroy()
  }, 120_000) // three rounds of 2.4 MB through a real relay: 12 s on a loaded 2-core machine
})
