/**
 * Rules (issue #16, Benchmarks): `npm run bench -- rules [--scale 0.1]`.
 *
 * Two `weft serve --data <dir>` processes (SQLite store) in the same run, one with `--rules demo/scripts/rules.mjs`
 * (the demo's rules: a shape locked by a user is changed only by that user) and one without, on 127.0.0.1 with ports
 * from the OS; their CPU is read from /proc (bench/rules/relay.ts). Four phases:
 * 1. Memory per validated room: boards of 200 shapes already in each relay's store are loaded (a client and one
 *    accepted change each) and the relay's memory after a full GC is compared with its memory before
 *    (bench/rules/memory.ts).
 * 2. Relay CPU per accepted update, rules on against off, on two workloads (bench/rules/workloads.ts): a whiteboard
 *    (8 stock clients creating, moving and recolouring shapes of the demo's schema, all allowed) and an editor (an
 *    editing trace of ../shared/data replayed into the demo document's `body` text). Rounds alternate which relay goes
 *    first; a new room each round; one untimed warm-up round each.
 * 3. Rollback on the writer: a Weft client (`openDoc`) moves a shape another user locked (refused, `shapes.update`);
 *    the time until its `rejected` event and until the document holds the old value again, against an accepted move's
 *    round trip (until acknowledged) on the same connection, alternated (bench/rules/writer.ts).
 * 4. The relay's CPU for one refusal on a board of 10,000 shapes (the view rebuilt from the room's whole state)
 *    against one accepted update on the same room; and that accepted update's CPU against the same on a relay
 *    without rules (the same board in its store).
 * `--scale` (0, 1] shrinks every count for a quick run; the figures in docs/guides/rules.md are at scale 1.
 */
import { scaleArg, type Row } from './lib.js'
import { guardChildren } from './server/ServerProcess.js'
import { loadTrace } from './traces.js'
import { boardUpdate } from './rules/board.js'
import { memoryPerRoom, memoryRoom } from './rules/memory.js'
import { seedRelayDir, startRulesRelay, type RulesRelay } from './rules/relay.js'
import { editorRound, whiteboardRound, type RoundResult } from './rules/workloads.js'
import { refusalCost, rollbackRounds } from './rules/writer.js'

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const list = (xs: readonly number[], digits = 2): string => `[${xs.map((x) => x.toFixed(digits)).join(', ')}]`
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
const log = (line: string): void => console.log(`  ${line}`)

const sizesOf = (scale: number) => {
  const n = (full: number, min: number) => Math.max(min, Math.round(full * scale))
  return {
    scale,
    memoryRooms: n(50, 5),
    memoryShapes: 200,
    rounds: scale >= 1 ? 5 : 2,
    whiteboard: { clients: 8, updatesPerClient: n(150, 12), intervalMs: 20 },
    editor: { txns: n(2000, 100), intervalMs: 2 },
    rollbackRounds: n(21, 3),
    bigShapes: n(10_000, 500),
    refusalRounds: scale >= 1 ? 5 : 2,
    acceptedBatch: 20,
  }
}

/** Phase 1: memory per validated room, ruled against unruled relay. */
const memoryRows = async (sizes: ReturnType<typeof sizesOf>, bench: string): Promise<Row[]> => {
  const rooms = new Map<string, Uint8Array>()
  const board = boardUpdate(sizes.memoryShapes)
  for (let i = 0; i <= sizes.memoryRooms; i++) rooms.set(memoryRoom(i), board)
  const results: Record<'on' | 'off', Awaited<ReturnType<typeof memoryPerRoom>>> = {} as never
  for (const ruled of [true, false]) {
    const relay = await startRulesRelay(await seedRelayDir(rooms), ruled)
    try {
      const r = await memoryPerRoom(relay, sizes.memoryRooms)
      results[ruled ? 'on' : 'off'] = r
      log(
        `memory | ${relay.name}: ${sizes.memoryRooms} rooms of ${sizes.memoryShapes} shapes (${kib(board.byteLength)} each) loaded: heap+external ${kib(r.before.heapUsed + r.before.external)} -> ${kib(r.after.heapUsed + r.after.external)} = ${kib(r.retainedPerRoom)}/room, RSS ${kib(r.rssPerRoom)}/room`,
      )
    } finally {
      await relay.stop()
    }
  }
  log(
    `memory | the validating view costs ${kib(results.on.retainedPerRoom - results.off.retainedPerRoom)} per room (heap+external after GC, ruled minus unruled)`,
  )
  return [
    {
      bench,
      metric: `relay memory per loaded room of ${sizes.memoryShapes} shapes (JS heap + external after a full GC)`,
      value: results.on.retainedPerRoom / 1024,
      baseline: results.off.retainedPerRoom / 1024,
      baselineName: 'rules off',
      unit: 'KiB',
    },
  ]
}

/** Phase 2: relay CPU per accepted update, rules on against off, rounds alternating the order. */
const cpuRows = async (sizes: ReturnType<typeof sizesOf>, bench: string): Promise<Row[]> => {
  const trace = loadTrace('automerge-paper', sizes.editor.txns)
  const on = await startRulesRelay(await seedRelayDir(new Map()), true)
  const off = await startRulesRelay(await seedRelayDir(new Map()), false)
  const rows: Row[] = []
  try {
    const workloads = [
      {
        name: 'whiteboard',
        describe: `whiteboard, ${sizes.whiteboard.clients} clients x ${sizes.whiteboard.updatesPerClient} changes (create, move, recolour) every ${sizes.whiteboard.intervalMs} ms`,
        run: (relay: RulesRelay, room: string) => whiteboardRound(relay, room, sizes.whiteboard),
      },
      {
        name: 'editor',
        describe: `editor, ${trace.name} (${sizes.editor.txns} txns, one every ${sizes.editor.intervalMs} ms) into a ruled text field, 1 reader`,
        run: (relay: RulesRelay, room: string) => editorRound(relay, room, trace, sizes.editor),
      },
    ]
    for (const w of workloads) {
      await w.run(on, `${w.name}-warmup`)
      await w.run(off, `${w.name}-warmup`)
      const results = { on: [] as RoundResult[], off: [] as RoundResult[] }
      for (let round = 0; round < sizes.rounds; round++) {
        const order = round % 2 === 0 ? [on, off] : [off, on]
        for (const relay of order) {
          const r = await w.run(relay, `${w.name}-${round}`)
          ;(relay === on ? results.on : results.off).push(r)
          log(
            `${w.name} round ${round} | ${relay.name}: ${r.updates} updates in ${r.seconds.toFixed(1)} s, relay CPU ${r.cpuSeconds.toFixed(2)} s = ${r.cpuPerUpdateUs.toFixed(0)} us/update`,
          )
        }
      }
      const us = (rs: RoundResult[]) => rs.map((r) => r.cpuPerUpdateUs)
      const ratios = results.on.map((r, i) => r.cpuPerUpdateUs / (results.off[i]?.cpuPerUpdateUs ?? NaN))
      log(
        `${w.name} | us/update on ${list(us(results.on), 0)}, off ${list(us(results.off), 0)}; per-round ratio ${list(ratios)} (median ${median(ratios).toFixed(2)})`,
      )
      rows.push({
        bench: `${bench}, ${w.describe}, median of ${sizes.rounds} rounds`,
        metric: 'relay CPU per accepted update',
        value: median(us(results.on)),
        baseline: median(us(results.off)),
        baselineName: 'rules off',
        unit: 'us',
        target: 1.5,
      })
    }
  } finally {
    await on.stop()
    await off.stop()
  }
  return rows
}

/** Phases 3 and 4: the writer's rollback, and a refusal's relay CPU on a large room. */
const writerRows = async (sizes: ReturnType<typeof sizesOf>, bench: string): Promise<Row[]> => {
  const big = boardUpdate(sizes.bigShapes)
  const dir = await seedRelayDir(
    new Map([
      ['rollback', boardUpdate(20)],
      ['big', big],
    ]),
  )
  const relay = await startRulesRelay(dir, true)
  try {
    const rb = await rollbackRounds(relay, 'rollback', sizes.rollbackRounds)
    const acked = rb.accepted.map((r) => r.acknowledgedMs)
    const delivered = rb.accepted.map((r) => r.deliveredMs)
    const back = rb.refused.map((r) => r.backMs)
    const rejected = rb.refused.map((r) => r.rejectedMs)
    const settled = rb.refused.map((r) => r.settledMs)
    log(
      `rollback | ${sizes.rollbackRounds} rounds: accepted change delivered to another client ${list(delivered, 1)} ms, acknowledged ${list(acked, 1)} ms; refused: document back ${list(back, 1)} ms, rejected event ${list(rejected, 1)} ms, restore acknowledged ${list(settled, 1)} ms`,
    )
    const rbBench = `${bench}, rollback on the writer (Weft client, openDoc), median of ${sizes.rollbackRounds} alternated rounds`
    const rows: Row[] = [
      {
        bench: rbBench,
        metric: 'refused change: until the rejected event',
        value: median(rejected),
        baseline: median(delivered),
        baselineName: 'accepted change delivered to another client',
        unit: 'ms',
      },
      {
        bench: rbBench,
        metric: 'refused change: until the document is back (rolled back)',
        value: median(back),
        baseline: median(delivered),
        baselineName: 'accepted change delivered to another client',
        unit: 'ms',
      },
      {
        bench: rbBench,
        metric: 'refused change: until the relay acknowledged the restore (rollback settled)',
        value: median(settled),
        baseline: median(acked),
        baselineName: 'accepted change acknowledged (stored)',
        unit: 'ms',
      },
    ]
    const cost = await refusalCost(relay, 'big', sizes.refusalRounds, sizes.acceptedBatch)
    log(
      `refusal cost | ${relay.name}, ${sizes.bigShapes + 1} shapes (${kib(cost.docBytes)} of state): first check (view built) ${cost.firstCheckMs.toFixed(0)} ms; per accepted update ${list(cost.acceptedMs)} ms; per refusal ${list(cost.refusalMs, 0)} ms (relay CPU, 10 ms resolution)`,
    )
    const plain = await startRulesRelay(await seedRelayDir(new Map([['big', big]])), false)
    let plainCost: Awaited<ReturnType<typeof refusalCost>>
    try {
      plainCost = await refusalCost(plain, 'big', sizes.refusalRounds, sizes.acceptedBatch, false)
    } finally {
      await plain.stop()
    }
    log(
      `refusal cost | ${plain.name}, the same board: first update ${plainCost.firstCheckMs.toFixed(0)} ms; per accepted update ${list(plainCost.acceptedMs)} ms`,
    )
    const bigBench = `${bench}, a board of ${sizes.bigShapes + 1} shapes (${kib(cost.docBytes)}), median of ${sizes.refusalRounds} rounds`
    rows.push(
      {
        bench: bigBench,
        metric: 'relay CPU for one refused update (check, rollback restore, view rebuild)',
        value: median(cost.refusalMs),
        baseline: median(cost.acceptedMs),
        baselineName: `one accepted update (mean of ${sizes.acceptedBatch})`,
        unit: 'ms',
      },
      {
        bench: bigBench,
        metric: 'relay CPU per accepted update (one writer, each acknowledged before the next)',
        value: median(cost.acceptedMs),
        baseline: median(plainCost.acceptedMs),
        baselineName: 'rules off',
        unit: 'ms',
      },
    )
    return rows
  } finally {
    await relay.stop()
  }
}

export default async (): Promise<Row[]> => {
  const sizes = sizesOf(scaleArg())
  const release = guardChildren()
  const started = performance.now()
  const bench = 'rules (weft serve --rules demo/scripts/rules.mjs vs without)'
  try {
    return [
      ...(await memoryRows(sizes, bench)),
      ...(await cpuRows(sizes, bench)),
      ...(await writerRows(sizes, bench)),
    ]
  } finally {
    release()
    log(`(rules bench took ${((performance.now() - started) / 1000).toFixed(0)} s, scale ${sizes.scale})`)
  }
}
