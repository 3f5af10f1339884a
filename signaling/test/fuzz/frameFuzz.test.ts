import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import {
  Feature,
  PROTOCOL_VERSION,
  encodeAck,
  encodeAwareness,
  encodeQueryAwareness,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  splitMessage,
} from '@weft/core/protocol'
import { encodeAwarenessEntries } from '../../src/relay/AwarenessTable.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { prng } from './prng.js'

/** Frames per run: small in CI, `WEFT_FUZZ_FRAMES=100000` for the full run. */
const FRAMES = Number(process.env['WEFT_FUZZ_FRAMES'] ?? 6000)
const SEED = Number(process.env['WEFT_FUZZ_SEED'] ?? 1)

const relaySeeds = (): Uint8Array[] => {
  const d = new Y.Doc()
  const updates: Uint8Array[] = []
  d.on('update', (u: Uint8Array) => updates.push(u))
  d.getText('t').insert(0, 'fuzz')
  d.getMap('m').set('k', { a: [1, 2, 3] })
  d.getArray('a').push([new Uint8Array([1, 2])])
  d.getText('t').delete(1, 2)
  const hello = { version: PROTOCOL_VERSION, features: Feature.Ack | Feature.Chunk, maxMessageSize: 1 << 20 }
  const awareness = new Uint8Array([1, 7, 1, 13, ...new TextEncoder().encode('{"user":"z"}'), 0].slice(0, 17))
  return [
    encodeSyncStep1(Y.encodeStateVector(d), hello),
    encodeSyncStep1(new Uint8Array([0])),
    encodeSyncStep2(Y.encodeStateAsUpdate(d), 3),
    ...updates.map((u, i) => encodeSyncUpdate(u, i + 1)),
    encodeAwareness(awareness),
    encodeQueryAwareness(),
    encodeAck(5),
    ...splitMessage(encodeSyncUpdate(Y.encodeStateAsUpdate(d)), 100, 9),
  ]
}

const signalSeeds = [
  '{"type":"subscribe","topics":["fuzz-target","x"]}',
  '{"type":"unsubscribe","topics":["x"]}',
  '{"type":"publish","topic":"fuzz-target","data":{"type":"announce","from":"p"}}',
  '{"type":"ping"}',
]

/** A random or mutated frame. */
const relayFrame = (rand: () => number, seeds: Uint8Array[]): Uint8Array => {
  const r = rand()
  if (r < 0.2) return Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))
  const base = seeds[Math.floor(rand() * seeds.length)] as Uint8Array
  if (r < 0.3) return base
  const out = Uint8Array.from(base)
  const mutations = 1 + Math.floor(rand() * 3)
  for (let i = 0; i < mutations && out.length > 0; i++) {
    const at = Math.floor(rand() * out.length)
    const kind = rand()
    if (kind < 0.6) out[at] = Math.floor(rand() * 256)
    else if (kind < 0.8) return out.subarray(0, at)
    else out[at] = 0xff
  }
  return out
}

const signalFrame = (rand: () => number): string => {
  const r = rand()
  if (r < 0.15)
    return String.fromCharCode(
      ...Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 128)),
    )
  const base = signalSeeds[Math.floor(rand() * signalSeeds.length)] as string
  if (r < 0.5) return base
  const chars = base.split('')
  const at = Math.floor(rand() * chars.length)
  if (r < 0.7) chars[at] = String.fromCharCode(Math.floor(rand() * 128))
  else if (r < 0.85) return chars.slice(0, at).join('')
  else
    return JSON.stringify({
      type: ['subscribe', 'publish', 'ping', 'x'][Math.floor(rand() * 4)],
      topics: rand() < 0.5 ? [1] : 'x',
      topic: rand() < 0.5 ? null : 'fuzz-target',
    })
  return chars.join('')
}

let srv: TestServer
let a: StockClient
let b: StockClient

beforeAll(async () => {
  srv = await startTestServer({
    limits: { messagesPerSecond: 1e9, messageBurst: 1e9, maxRelayMessageBytes: 1 << 20 },
    relay: { idleUnloadMs: 50 },
  })
  // The pair works in its own room: a crafted, well-formed update from a writer in the same room can break Yjs
  // clients (RELAY-5.3), which no relay short of applying updates to a Y.Doc can prevent.
  a = stockClient(`${srv.ws}/relay`, 'good')
  b = stockClient(`${srv.ws}/relay`, 'good')
  await Promise.all([a.synced(), b.synced()])
})
afterAll(async () => {
  a.destroy()
  b.destroy()
  await srv.close()
})

/**
 * Sends frames from one connection after another (reconnecting after every close) to `path` until `enough()`,
 * in small batches each followed by a marker the server answers (signal: ping; relay: a sync step 1), so the
 * server has handled the batch before the next one is sent.
 */
const attacker = async (
  path: () => string,
  enough: () => boolean,
  frame: () => Uint8Array | string,
): Promise<number> => {
  let sent = 0
  const isSignal = path().startsWith('/signal')
  // Relay marker: our own presence (the relay echoes awareness to the sender); cheap to answer.
  const me = 1_000_000 + Math.floor(Math.random() * 1_000_000)
  let clock = 0
  const marker = (): Uint8Array | string =>
    isSignal ? '{"type":"ping"}' : encodeAwareness(encodeAwarenessEntries([[me, ++clock, '{"fuzz":true}']]))
  const isAnswer = (data: Buffer, isBinary: boolean) =>
    isSignal ? !isBinary && data.toString().includes('"pong"') : isBinary && data[0] === 1
  while (!enough()) {
    const ws = new WebSocket(`${srv.ws}${path()}`)
    let answered: (() => void) | null = null
    ws.on('error', () => undefined)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isAnswer(data, isBinary)) answered?.()
    })
    const closed = new Promise<void>((resolve) =>
      ws.on('close', () => {
        answered?.()
        resolve()
      }),
    )
    await new Promise<void>((resolve) => {
      ws.on('open', () => resolve())
      void closed.then(resolve)
    })
    while (!enough() && ws.readyState === WebSocket.OPEN) {
      for (let i = 0; i < 4; i++) ws.send(frame())
      sent += 4
      await new Promise<void>((resolve) => {
        answered = resolve
        ws.send(marker())
      })
      answered = null
    }
    if (ws.readyState === WebSocket.OPEN) ws.close()
    await closed
  }
  return sent
}

describe('fuzzing both endpoints', { timeout: 600_000 }, () => {
  it(`CONN-7: ${FRAMES} random and mutated frames: no crash, bounded memory, a well-behaved pair keeps syncing`, async () => {
    const rand = prng(SEED)
    const seeds = relaySeeds()
    const heapBefore = process.memoryUsage().heapUsed
    const m = srv.server.metrics
    // Counted where it matters: frames the server received, per endpoint (the good pair's are few).
    const relayDone = () => m.messagesIn.get({ endpoint: 'relay' }) >= FRAMES / 2
    const signalDone = () => m.messagesIn.get({ endpoint: 'signal' }) >= FRAMES / 2
    let rounds = 0
    const attackers = Promise.all([
      attacker(
        () => '/relay/fuzz-target',
        relayDone,
        () => relayFrame(rand, seeds),
      ),
      attacker(
        () => '/relay/fuzz-target',
        relayDone,
        () => relayFrame(rand, seeds),
      ),
      attacker(
        () => '/relay/good?',
        relayDone,
        () => (rand() < 0.5 ? new Uint8Array([1, 0]) : encodeAwareness(new Uint8Array([9]))),
      ),
      attacker(
        () => `/relay/fuzz-${Math.floor(rand() * 20)}`,
        relayDone,
        () => relayFrame(rand, seeds),
      ),
      attacker(
        () => '/signal',
        signalDone,
        () => signalFrame(rand),
      ),
      attacker(
        () => '/signal',
        signalDone,
        () => signalFrame(rand),
      ),
    ])
    let done = false
    void attackers.then(() => (done = true))
    const progress = process.env['WEFT_FUZZ_PROGRESS']
      ? setInterval(
          () =>
            console.log(
              'fuzz progress',
              m.messagesIn.get({ endpoint: 'relay' }),
              m.messagesIn.get({ endpoint: 'signal' }),
              rounds,
            ),
          5000,
        )
      : null
    // Meanwhile the well-behaved pair keeps syncing.
    while (!done) {
      const text = a.doc.getText('good')
      text.insert(text.length, `${rounds++},`)
      await textEquals(b.doc, text.toString(), 'good')
    }
    await attackers
    if (progress) clearInterval(progress)
    const received = m.messagesIn.get({ endpoint: 'relay' }) + m.messagesIn.get({ endpoint: 'signal' })
    expect(received).toBeGreaterThanOrEqual(FRAMES)
    a.doc.getText('good').insert(0, 'end:')
    await textEquals(b.doc, a.doc.getText('good').toString(), 'good')
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6
    const closes = ['MalformedMessage', 'MessageTooLarge', 'Forbidden', 'TooManyRooms', 'InternalError']
      .map((c) => `${c}=${m.closes.get({ code: c })}`)
      .join(' ')
    console.log(
      `fuzz: ${received} frames received, ${rounds} good rounds, heap +${grownMb.toFixed(1)} MB, ${closes}`,
    )
    expect(m.closes.get({ code: 'InternalError' })).toBe(0)
    expect(grownMb).toBeLessThan(200)
    expect(srv.server.metrics.closes.get({ code: 'MalformedMessage' })).toBeGreaterThan(0)
    expect(rounds).toBeGreaterThan(0)
  })
})
