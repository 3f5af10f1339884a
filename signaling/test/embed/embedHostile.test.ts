/**
 * The embedded relay (createWeftRelay) against a client with a valid token that misbehaves, and against an app's
 * slow or hanging hooks: what one connection can hold, and what a shutdown leaves behind.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pino, type Logger } from 'pino'
import * as Y from 'yjs'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import type { WeftHooks, WeftRelayOptions } from '@weft/signaling'
import { deferred } from '../helpers/GatedStore.js'
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
