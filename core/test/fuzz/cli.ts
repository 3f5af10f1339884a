/**
 * `npm run fuzz -- --seeds N [--start S] [--steps K]`: runs N seeds of the convergence fuzzer and prints every
 * failing seed (turn each into a named regression test in convergence.test.ts).
 *
 * `npm run fuzz -- --mode hostile-update --seeds N [--start S]`: the hostile-update differential fuzz (SYNC-3.5):
 * N generated, real and mutated updates; every one `validateUpdate` accepts must merge and apply cleanly. Prints
 * every failing seed (turn each into a case in validateUpdate.hostile.test.ts).
 *
 * `npm run fuzz -- --mode websocket --seeds N [--start S]`: the differential WebSocket fuzz (CONN-9.5): N generated
 * client byte streams through the server's frame parser and `ws`'s Receiver, which must agree. Prints every failing
 * seed (turn each into a named case in signaling/test/fuzz/wsDifferential.test.ts). Test code importing test code:
 * core's sources never depend on signaling.
 *
 * `npm run fuzz -- --mode workspace --seeds N [--start S] [--steps K] [--purges]`: the workspace fuzzer (WS-REL-1): replicas of
 * one workspace through creates, deletes, edits, evictions, partitions, restarts, relay restarts and compactions must
 * converge; `--purges` adds purge steps (the clock jumps past the retention; the relay and the replicas purge).
 * Prints every failing seed (turn each into a named case in providers/test/workspace/fuzz.test.ts). It drives
 * `openWorkspace`, so it lives in providers and is imported here like the websocket mode's code.
 */
import { accepts, buildCorpus, checkMergesAndApplies, hostileCase } from '../protocol/hostileUpdates.js'
import { runSeed } from './convergenceFuzzer.js'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a whole number`)
  return v
}

const modeAt = process.argv.indexOf('--mode')
const mode = modeAt >= 0 ? process.argv[modeAt + 1] : 'convergence'
if (mode !== 'convergence' && mode !== 'hostile-update' && mode !== 'websocket' && mode !== 'workspace')
  throw new Error('--mode is convergence, hostile-update, websocket or workspace')

const seeds = arg('seeds', 1000)
const startAt = arg('start', 1)
const steps = arg('steps', mode === 'workspace' ? 60 : 120)
const t0 = Date.now()

if (mode === 'workspace') {
  const { runWorkspaceSeeds } = await import('../../../providers/test/workspace/fuzz/workspaceFuzzer.js')
  const purges = process.argv.includes('--purges')
  process.exit((await runWorkspaceSeeds(startAt, seeds, steps, console.log, { purges })) > 0 ? 1 : 0)
}

if (mode === 'hostile-update') {
  const corpus = buildCorpus()
  const error = console.error
  console.error = () => undefined // Yjs warns about subdocuments integrated twice
  let accepted = 0
  let failedCases = 0
  for (let s = startAt; s < startAt + seeds; s++) {
    const update = hostileCase(corpus, s)
    if (!accepts(update)) continue
    accepted++
    try {
      checkMergesAndApplies(update, corpus.base)
    } catch (err) {
      failedCases++
      console.log(`FAIL seed ${s}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  console.error = error
  console.log(
    `hostile-update fuzz: ${seeds} seeds (${startAt}..${startAt + seeds - 1}), ${accepted} accepted by validateUpdate, ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s: ${failedCases} accepted updates failed to merge or apply`,
  )
  process.exit(failedCases > 0 ? 1 : 0)
}
if (mode === 'websocket') {
  const { runSeeds } = await import('../../../signaling/test/fuzz/wsDifferential.js')
  const stats = { streams: 0, messages: 0, largeMessages: 0, controls: 0, closes: 0, failed: 0 }
  const errors: Record<string, number> = {}
  const rules: Record<string, number> = {}
  // In blocks, for a progress line every 10,000 seeds.
  for (let from = startAt; from < startAt + seeds; from += 10_000) {
    const block = runSeeds(from, Math.min(10_000, startAt + seeds - from), (seed, verdict) =>
      console.log(`FAIL seed ${seed}: ${verdict.detail ?? ''}`),
    )
    stats.streams += block.streams
    stats.messages += block.messages
    stats.largeMessages += block.largeMessages
    stats.controls += block.controls
    stats.closes += block.closes
    stats.failed += block.failed.length
    for (const [k, n] of Object.entries(block.errors)) errors[k] = (errors[k] ?? 0) + n
    for (const [k, n] of Object.entries(block.byRule)) rules[k] = (rules[k] ?? 0) + n
    if (stats.streams < seeds) console.log(`... ${stats.streams} streams, ${stats.failed} failed`)
  }
  const decisions = Object.entries(errors)
    .map(([k, n]) => `${k === 'none' ? 'no error' : k}=${n}`)
    .join(' ')
  const intended = Object.entries(rules)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ')
  console.log(
    `websocket fuzz: ${seeds} streams (${startAt}..${startAt + seeds - 1}), ${stats.messages} messages ` +
      `(${stats.largeMessages} of 64 KiB or more), ${stats.controls} pings and pongs, ${stats.closes} close frames, ` +
      `decisions ${decisions}, intended differences ${intended || 'none'}, ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s: ${seeds - stats.failed} agreed with ws, ${stats.failed} failed`,
  )
  process.exit(stats.failed > 0 ? 1 : 0)
}
let failed = 0
let edits = 0
let restarts = 0
let drops = 0
let compactions = 0
let epochResets = 0
for (let s = startAt; s < startAt + seeds; s++) {
  const r = await runSeed(s, { steps })
  edits += r.edits
  restarts += r.restarts
  drops += r.drops
  compactions += r.compactions
  epochResets += r.epochResets
  if (!r.ok) {
    failed++
    console.log(`FAIL seed ${s} (${r.peers} peers): ${r.detail}`)
  }
  if ((s - startAt + 1) % 1000 === 0) console.log(`... ${s - startAt + 1} seeds, ${failed} failed`)
}
console.log(
  `fuzz: ${seeds} seeds (${startAt}..${startAt + seeds - 1}), ${steps} steps each, ${edits} edits, ${restarts} restarts, ` +
    `${drops} dropped messages, ${compactions} compactions, ${epochResets} epoch resets, ${((Date.now() - t0) / 1000).toFixed(1)} s: ${seeds - failed} passed, ${failed} failed`,
)
process.exitCode = failed > 0 ? 1 : 0
