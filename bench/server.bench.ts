/**
 * Issue 5: the Weft relay against @y/websocket-server 0.1.1 and Hocuspocus 4.7, each started the same way (a child
 * process on 127.0.0.1, port 0), on the same machine, in the same run, with stock clients in a separate client
 * process (y-websocket 3.1 for Weft and @y/websocket-server, HocuspocusProvider for Hocuspocus). Server CPU and
 * memory come from /proc/<pid>. Six workloads (see bench/server/scenarios/): (a) fan-out, (b) idle connections,
 * (c) joining a long history, (d) a join storm on a large document, whose joiners are spread over several client
 * processes (WEFT_BENCH_STORM_PROCESSES, default 5), identically for every server, so that one client process
 * receiving 50 copies of 20 MB is not what is measured, (e) presence only, with clients that echo what they receive
 * as the stock y-websocket provider does ("presence-echo") and with clients that do not ("presence"), against
 * @y/websocket-server only (y-websocket clients). Every row compares Weft with the better of the other servers.
 * Sizes: WEFT_BENCH_SCALE and the variables in bench/server/config.ts. A fresh server per workload.
 */
import type { Row } from './lib.js'
import { median } from './server/stats.js'
import { scenariosFromEnv, sizesFromEnv, type Scenario, type ServerBenchSizes } from './server/config.js'
import { runClient, type ClientOutcome } from './server/runClient.js'
import { guardChildren, SERVER_NAMES, startServer, type ServerKind } from './server/ServerProcess.js'
import type { FanOutResult } from './server/scenarios/fanOut.js'
import type { HistoryResult } from './server/scenarios/historyJoin.js'
import type { IdleResult } from './server/scenarios/idleConnections.js'
import type { StormResult } from './server/scenarios/joinStorm.js'
import type { PresenceResult } from './server/scenarios/presence.js'

const ALL_KINDS: readonly ServerKind[] = ['weft', 'y-websocket-server', 'hocuspocus', 'floor']
/** The servers Weft is compared with (the floor is context, never a baseline). */
const BASELINES: readonly ServerKind[] = ['y-websocket-server', 'hocuspocus']
/** Scenarios run with stock y-websocket clients, so against Weft and @y/websocket-server only. */
const Y_WEBSOCKET_ONLY: readonly Scenario[] = ['presence', 'presence-echo']
/** The fan-out workloads, the only ones the floor server can pass (it keeps no document). */
const FAN_OUTS: readonly Scenario[] = ['fanout', 'fanout-light']
/** The floor server takes part in the fan-outs only (it keeps no document, so nothing else would work). */
const kindsFor = (scenario: Scenario): readonly ServerKind[] =>
  KINDS.filter((k) =>
    Y_WEBSOCKET_ONLY.includes(scenario)
      ? k === 'weft' || k === 'y-websocket-server'
      : k !== 'floor' || FAN_OUTS.includes(scenario),
  )

/**
 * Servers run, from `WEFT_BENCH_SERVERS` (comma-separated; default all three). For iterating on one server only:
 * rows without a baseline show no ratio.
 */
const kindsFromEnv = (env: NodeJS.ProcessEnv = process.env): readonly ServerKind[] => {
  const raw = env['WEFT_BENCH_SERVERS']
  if (!raw) return ALL_KINDS
  const wanted = raw.split(',').map((s) => s.trim())
  const unknown = wanted.filter((s) => !(ALL_KINDS as readonly string[]).includes(s))
  if (unknown.length > 0)
    throw new Error(`unknown server(s) ${unknown.join(', ')}; known: ${ALL_KINDS.join(', ')}`)
  return ALL_KINDS.filter((k) => wanted.includes(k))
}
const KINDS = kindsFromEnv()

/** Per server, one outcome per round (rounds that failed are missing). */
type Outcomes = Partial<Record<ServerKind, Array<ClientOutcome<unknown>>>>

const roundsOf = (scenario: Scenario, sizes: ServerBenchSizes): number =>
  scenario === 'fanout'
    ? sizes.fanOut.rounds
    : scenario === 'fanout-light'
      ? sizes.fanOutLight.rounds
      : Y_WEBSOCKET_ONLY.includes(scenario)
        ? sizes.presence.rounds
        : 1

const TIMEOUT_MS: Record<Scenario, (s: ServerBenchSizes) => number> = {
  fanout: (s) => (s.fanOut.warmupEdits + s.fanOut.edits) * s.fanOut.intervalMs + 180_000,
  'fanout-light': (s) =>
    (s.fanOutLight.warmupEdits + s.fanOutLight.edits) * s.fanOutLight.intervalMs + 180_000,
  idle: () => 300_000,
  history: () => 180_000,
  storm: () => 300_000,
  presence: (s) => (s.presence.warmupUpdates + s.presence.updates) * s.presence.intervalMs + 180_000,
  'presence-echo': (s) => (s.presence.warmupUpdates + s.presence.updates) * s.presence.intervalMs + 180_000,
}

const closes = (tally: Record<string, number>): string => {
  const parts = Object.entries(tally).map(([code, n]) => `${code} x${n}`)
  return parts.length === 0 ? 'no unexpected closes' : `unexpected closes: ${parts.join(', ')}`
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`

/** One line of absolute figures per server, printed for context. */
const describe = (scenario: Scenario, outcome: ClientOutcome<unknown>): string => {
  const cpu = `client CPU ${outcome.clientCpuSeconds.toFixed(1)} s`
  switch (scenario) {
    case 'fanout':
    case 'fanout-light': {
      const r = outcome.result as FanOutResult
      return `${r.deliveries}/${r.expected} delivered in ${r.editSeconds.toFixed(1)} s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, server CPU ${r.serverCpuSeconds.toFixed(2)} s (kernel ${r.serverSystemSeconds.toFixed(2)} s, main thread ${r.serverMainThreadSeconds.toFixed(2)} s) = ${r.cpuPerDeliveryUs.toFixed(1)} us/delivery, ${closes(r.unexpectedCloses)}, ${cpu} (its event-loop delay p99 ${r.clientLoopDelayP99Ms.toFixed(1)} ms)`
    }
    case 'idle': {
      const r = outcome.result as IdleResult
      return `${r.synced}/${r.connections} synced in ${r.connectSeconds.toFixed(1)} s (server CPU ${r.connectCpuSeconds.toFixed(1)} s), RSS ${mb(r.rssBeforeBytes)} -> ${mb(r.rssAfterBytes)} = ${(r.perConnectionBytes / 1024).toFixed(1)} KiB/connection, server CPU idle ${r.idleCpuPercent.toFixed(2)}% of a core over ${r.idleWindowSeconds.toFixed(0)} s, ${closes(r.unexpectedCloses)}, ${cpu}`
    }
    case 'history': {
      const r = outcome.result as HistoryResult
      return `${r.edits} edits, one per message, from ${r.writers} writer connections (doc ${(r.docBytes / 1024).toFixed(1)} KiB as a Y.Doc encodes it); joins: ${r.timesMs.map((t) => t.toFixed(1)).join(', ')} ms; bytes to the joiner: ${r.bytes.join(', ')}, ${closes(r.unexpectedCloses)}, ${cpu}`
    }
    case 'presence':
    case 'presence-echo': {
      const r = outcome.result as PresenceResult
      return `${r.deliveries}/${r.expected} presence changes seen in ${r.seconds.toFixed(1)} s, ${r.messagesReceived} awareness messages received by the clients, server CPU ${r.serverCpuSeconds.toFixed(2)} s (kernel ${r.serverSystemSeconds.toFixed(2)} s, main thread ${r.serverMainThreadSeconds.toFixed(2)} s) = ${r.cpuPerDeliveryUs.toFixed(2)} us per update per observer, ${closes(r.unexpectedCloses)}, ${cpu}`
    }
    case 'storm': {
      const r = outcome.result as StormResult
      return `${r.synced}/${r.clients} synced a ${mb(r.docBytes)} doc in ${r.allSyncedMs.toFixed(0)} ms (first after ${r.firstSyncedMs.toFixed(0)} ms), RSS ${mb(r.rssBeforeBytes)} before, peak ${mb(r.peakRssBytes)}${r.peakFromKernel ? '' : ' (polled)'}, server CPU ${r.serverCpuSeconds.toFixed(1)} s, ${closes(r.unexpectedCloses)}, ${cpu}, joiners in ${r.processes} processes: CPU ${r.joinerCpuSeconds.toFixed(1)} s, ${mb(r.bytesPerJoiner)} received each`
    }
  }
}

/**
 * A row: Weft's figure (or `of`'s) against the better (lower) of the `against` servers' figures (default: the other
 * servers); with several rounds, each server's figure is the median over its rounds.
 */
const row = <T>(
  outcomes: Outcomes,
  bench: string,
  metric: string,
  unit: string,
  pick: (r: T) => number,
  target?: number,
  of: ServerKind = 'weft',
  against: readonly ServerKind[] = BASELINES,
): Row => {
  const value = (kind: ServerKind): number => median((outcomes[kind] ?? []).map((o) => pick(o.result as T)))
  let best: ServerKind | null = null
  for (const kind of against) {
    if (!Number.isFinite(value(kind))) continue
    if (best === null || value(kind) < value(best)) best = kind
  }
  return {
    bench,
    metric,
    value: value(of),
    baseline: best ? value(best) : Number.NaN,
    baselineName: best ? SERVER_NAMES[best] : 'no baseline finished',
    unit,
    ...(target === undefined ? {} : { target }),
  }
}

const rowsOf = (scenario: Scenario, outcomes: Outcomes, sizes: ServerBenchSizes): Row[] => {
  switch (scenario) {
    case 'fanout':
    case 'fanout-light': {
      const light = scenario === 'fanout-light'
      const { rooms, clientsPerRoom, edits, intervalMs, rounds, warmupEdits } = light
        ? sizes.fanOutLight
        : sizes.fanOut
      const warm = warmupEdits > 0 ? ` after ${warmupEdits} warm-up edits` : ''
      const bench = `server ${light ? 'light ' : ''}fan-out, ${rooms} rooms x ${clientsPerRoom} clients, ${edits} edits each every ${intervalMs} ms${warm}, median of ${rounds} rounds`
      const cpu = (r: FanOutResult) => r.cpuPerDeliveryUs
      return [
        ...(light
          ? []
          : [
              row<FanOutResult>(outcomes, bench, 'delivery latency p50', 'ms', (r) => r.p50Ms, 1),
              row<FanOutResult>(outcomes, bench, 'delivery latency p99', 'ms', (r) => r.p99Ms, 1),
            ]),
        row<FanOutResult>(outcomes, bench, 'server CPU per delivered update', 'us', cpu, light ? 1 : 0.5),
        // Issue 13: against the least a Node server must do to forward (bench/server/floorServer.ts: no validation,
        // no storage, no limits), measured in the same run.
        ...(outcomes.floor
          ? [
              row<FanOutResult>(
                outcomes,
                bench,
                'server CPU per delivered update, against the FLOOR (forwarding only, not a usable server)',
                'us',
                cpu,
                1.15,
                'weft',
                ['floor'],
              ),
            ]
          : []),
      ]
    }
    case 'idle': {
      const { connections, rooms } = sizes.idle
      const bench = `server idle, ${connections} connections over ${rooms} rooms`
      return [
        row<IdleResult>(
          outcomes,
          bench,
          'server memory per connection (RSS delta)',
          'KiB',
          (r) => r.perConnectionBytes / 1024,
          0.5,
        ),
        // RELAY-6.6: the 5 s heartbeat must be affordable: Weft pings idle connections every few seconds.
        row<IdleResult>(
          outcomes,
          bench,
          'server CPU while idle (heartbeat, presence renewals), % of one core',
          '%',
          (r) => r.idleCpuPercent,
        ),
      ]
    }
    case 'history': {
      const bench = `server join after ${sizes.history.edits} single-edit messages (automerge-paper), median of ${sizes.history.joins} joins`
      return [
        row<HistoryResult>(outcomes, bench, 'time to synced', 'ms', (r) => r.medianMs),
        row<HistoryResult>(outcomes, bench, 'bytes sent to the joiner', 'B', (r) => r.medianBytes),
      ]
    }
    case 'presence':
    case 'presence-echo': {
      const { rooms, clientsPerRoom, updates, intervalMs, rounds, warmupUpdates } = sizes.presence
      const who =
        scenario === 'presence-echo'
          ? 'clients echoing what they receive (stock WebsocketProvider)'
          : 'clients sending only their own changes'
      const warm = warmupUpdates > 0 ? ` after ${warmupUpdates} warm-up changes` : ''
      const bench = `server presence, ${rooms} rooms x ${clientsPerRoom} ${who}, awareness only, ${updates} changes each every ${intervalMs} ms${warm}, median of ${rounds} rounds`
      return [
        row<PresenceResult>(
          outcomes,
          bench,
          'server CPU per awareness update per observer',
          'us',
          (r) => r.cpuPerDeliveryUs,
          0.5,
        ),
      ]
    }
    case 'storm': {
      const { clients, megabytes } = sizes.storm
      const bench = `server join storm, ${clients} clients x ${megabytes} MB document`
      return [
        row<StormResult>(outcomes, bench, 'time until all synced', 'ms', (r) => r.allSyncedMs, 0.5),
        row<StormResult>(outcomes, bench, 'peak server RSS', 'MB', (r) => r.peakRssBytes / 1e6, 0.5),
        row<StormResult>(outcomes, bench, 'server CPU during the storm', 's', (r) => r.serverCpuSeconds),
      ]
    }
  }
}

export default async (): Promise<Row[]> => {
  const sizes = sizesFromEnv()
  const scenarios = scenariosFromEnv()
  const release = guardChildren()
  const started = performance.now()
  const rows: Row[] = []
  try {
    let turn = 0
    for (const scenario of scenarios) {
      const outcomes: Outcomes = {}
      for (let round = 0; round < roundsOf(scenario, sizes); round++) {
        // Rotate the order every time, so that drifting machine load does not always hit the same server.
        const kinds = kindsFor(scenario)
        const order = kinds.map((_, j) => kinds[(turn + j) % kinds.length] as ServerKind)
        turn++
        for (const kind of order) {
          let server: Awaited<ReturnType<typeof startServer>> | null = null
          try {
            server = await startServer(kind)
            const target = { kind, port: server.port }
            const job = { scenario, target, serverPid: server.pid, sizes }
            const outcome = await runClient<unknown>(job, TIMEOUT_MS[scenario](sizes))
            ;(outcomes[kind] ??= []).push(outcome)
            console.log(`  ${scenario} | ${SERVER_NAMES[kind]}: ${describe(scenario, outcome)}`)
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err)
            console.log(`  ${scenario} | ${SERVER_NAMES[kind]}: FAILED ${message}`)
            if (server) console.log(`    server output:\n${server.tail()}`)
          } finally {
            await server?.stop()
          }
        }
      }
      rows.push(...rowsOf(scenario, outcomes, sizes))
    }
  } finally {
    release()
  }
  console.log(
    `  (server bench took ${((performance.now() - started) / 1000).toFixed(0)} s, scale ${sizes.scale})`,
  )
  return rows
}
