/**
 * Issue 6: edit-to-peer latency over real WebRTC (@roamhq/wrtc, loopback, `iceServers: []`) between two Node
 * processes, Weft against stock y-webrtc 10.3 in the same run.
 * - Weft: each peer is `openDoc()` with a WebRtcTransport as its only transport (one SyncSession bound to it).
 *   y-webrtc: each peer is a `WebrtcProvider` with its default options. Four peer processes (bench/webrtc/peerMain.ts)
 *   and one `weft serve` process (its `/signal` endpoint serves both pairs, port 0).
 * - One-way latency, from a clock shared by both processes: the sender reads `process.hrtime.bigint()` just before
 *   the edit's transaction, the receiver reads it in its text observer, at the end of the transaction that applied
 *   the update (the edit is visible to the app). On Linux that clock is CLOCK_MONOTONIC, which is system-wide, so
 *   the two readings are directly comparable; no round trip is halved and no processing on the way back is counted.
 * - Workload: after WARMUP edits per system, TYPING transactions of 3 typed characters and PASTES pastes of
 *   PASTE_CHARS characters, in a fixed shuffled order, alternating direction (A→B, B→A). Edits are sequential: the
 *   next one starts GAP_MS (+ 0–4 ms jitter) after the previous one was seen, so no queue forms.
 * - Drift: the two systems are interleaved edit by edit, and which goes first alternates, so machine load that
 *   changes during the run hits both alike (2 shared cores; other processes may run).
 * Sizes: WEFT_BENCH_WEBRTC_EDITS (typing transactions, default 1200; pastes are half of it: a p99 needs several hundred samples).
 */
import type { Row } from './lib.js'
import { percentile } from './server/stats.js'
import { killAllChildren, startServer } from './server/ServerProcess.js'
import { BenchPeer } from './webrtc/BenchPeer.js'
import type { PeerSystem } from './webrtc/protocol.js'
import { seededRandom } from '../core/src/testing/index.js'

const TYPING = Number(process.env['WEFT_BENCH_WEBRTC_EDITS'] ?? 1200)
const PASTES = Math.max(10, Math.round(TYPING / 2))
const WARMUP = 40
const PASTE_CHARS = 2000
const GAP_MS = 8

const SYSTEMS: readonly PeerSystem[] = ['weft', 'y-webrtc']
const NAMES: Record<PeerSystem, string> = { weft: 'Weft', 'y-webrtc': 'y-webrtc 10.3' }

type Kind = 'typing' | 'paste'

/** A deterministic pseudo-random sequence (mulberry32), so every run has the same workload. */
const rng = seededRandom

const WORDS =
  'the quick brown fox jumps over a lazy dog while seven bright peers keep one shared document in sync across every path they have'.split(
    ' ',
  )

/** Prose of about `n` characters. */
const prose = (n: number, next: () => number): string => {
  let s = ''
  while (s.length < n) s += `${WORDS[Math.floor(next() * WORDS.length)] ?? 'x'} `
  return s.slice(0, n)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Pair {
  readonly a: BenchPeer
  readonly b: BenchPeer
  readonly connectMs: number
}

const startPair = async (system: PeerSystem, signaling: string): Promise<Pair> => {
  const [a, b] = await Promise.all([BenchPeer.start(system), BenchPeer.start(system)])
  const room = `bench-${system}-${process.pid}-${Date.now()}`
  const started = performance.now()
  try {
    await Promise.all([
      a.request({ cmd: 'join', room, signaling }),
      b.request({ cmd: 'join', room, signaling }),
    ])
  } catch (err) {
    await Promise.all([a.stop(), b.stop()])
    throw err
  }
  return { a, b, connectMs: performance.now() - started }
}

/** One edit's one-way latency and its parts, in ms. */
interface Latency {
  readonly total: number
  /** From the edit until its message was handed to the data channel (the sender's JS). */
  readonly sender: number
  /** From there until the message arrived from native code at the receiver (WebRTC stacks, SCTP, loopback). */
  readonly transit: number
  /** From there until the receiver's text showed the edit (the receiver's JS). */
  readonly receiver: number
}

const ms = (ns: bigint) => Number(ns) / 1e6

/** One edit from one side of `pair` to the other. */
const oneEdit = async (pair: Pair, forward: boolean, text: string): Promise<Latency> => {
  const [from, to] = forward ? [pair.a, pair.b] : [pair.b, pair.a]
  const sent = await from.edit(text)
  const got = await to.seen(sent.length)
  return {
    total: ms(got.at - sent.at),
    sender: ms(sent.mark - sent.at),
    transit: ms(got.mark - sent.mark),
    receiver: ms(got.at - got.mark),
  }
}

export default async (): Promise<Row[]> => {
  const next = rng(6)
  const schedule: Array<{ kind: Kind; text: string }> = [
    ...Array.from({ length: TYPING }, () => ({ kind: 'typing' as const, text: prose(3, next) })),
    ...Array.from({ length: PASTES }, () => ({ kind: 'paste' as const, text: prose(PASTE_CHARS, next) })),
  ]
  for (let i = schedule.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[schedule[i], schedule[j]] = [schedule[j]!, schedule[i]!]
  }
  const warmup = Array.from({ length: WARMUP }, (_, i) => ({
    kind: (i % 8 === 7 ? 'paste' : 'typing') as Kind,
    text: i % 8 === 7 ? prose(PASTE_CHARS, next) : prose(3, next),
  }))

  const server = await startServer('weft')
  const pairs = new Map<PeerSystem, Pair>()
  const samples: Record<PeerSystem, Record<Kind, Latency[]>> = {
    weft: { typing: [], paste: [] },
    'y-webrtc': { typing: [], paste: [] },
  }
  const started = performance.now()
  try {
    const signaling = `ws://127.0.0.1:${server.port}/signal`
    for (const system of SYSTEMS) pairs.set(system, await startPair(system, signaling))
    const runs = [
      ...warmup.map((e) => ({ ...e, timed: false })),
      ...schedule.map((e) => ({ ...e, timed: true })),
    ]
    for (const [i, edit] of runs.entries()) {
      const order = i % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse()
      for (const system of order) {
        const pair = pairs.get(system)!
        const latency = await oneEdit(pair, Math.floor(i / 2) % 2 === 0, edit.text)
        if (edit.timed) samples[system][edit.kind].push(latency)
        await sleep(GAP_MS + next() * 4)
      }
    }
    for (const system of SYSTEMS) {
      const pair = pairs.get(system)!
      const faults = [...pair.a.faults, ...pair.b.faults]
      if (faults.length > 0) throw new Error(`${system} peer faults:\n${faults.join('\n')}`)
      console.log(`  ${NAMES[system]}: connect to synced ${pair.connectMs.toFixed(0)} ms`)
      for (const kind of ['typing', 'paste'] as const) {
        const s = samples[system][kind]
        const p = (part: keyof Latency, q: number) =>
          percentile(
            s.map((l) => l[part]),
            q,
          ).toFixed(3)
        console.log(
          `    ${kind}: p50 ${p('total', 0.5)} ms (sender JS ${p('sender', 0.5)}, transit ${p('transit', 0.5)}, receiver JS ${p('receiver', 0.5)}), p99 ${p('total', 0.99)} ms (sender JS ${p('sender', 0.99)}, transit ${p('transit', 0.99)}, receiver JS ${p('receiver', 0.99)}), ${s.length} edits`,
        )
      }
    }
  } finally {
    await Promise.all([...pairs.values()].flatMap((p) => [p.a.stop(), p.b.stop()]))
    await server.stop()
    killAllChildren()
  }
  console.log(`  (webrtc bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`)

  const rows: Row[] = []
  const label: Record<Kind, string> = {
    typing: `${TYPING} transactions of 3 typed characters`,
    paste: `${PASTES} pastes of ${PASTE_CHARS} characters`,
  }
  for (const kind of ['typing', 'paste'] as const) {
    for (const [metric, p] of [
      ['p50', 0.5],
      ['p99', 0.99],
    ] as const) {
      rows.push({
        bench: `WebRTC edit-to-peer latency (one-way, 2 Node processes), ${label[kind]}`,
        metric,
        value: percentile(
          samples.weft[kind].map((l) => l.total),
          p,
        ),
        baseline: percentile(
          samples['y-webrtc'][kind].map((l) => l.total),
          p,
        ),
        baselineName: NAMES['y-webrtc'],
        unit: 'ms',
        target: 1.2,
      })
    }
  }
  return rows
}
