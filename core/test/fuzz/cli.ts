/**
 * `npm run fuzz -- --seeds N [--start S] [--steps K]`: runs N seeds of the convergence fuzzer and prints every
 * failing seed (turn each into a named regression test in convergence.test.ts).
 */
import { runSeed } from './convergenceFuzzer.js'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a whole number`)
  return v
}

const seeds = arg('seeds', 1000)
const startAt = arg('start', 1)
const steps = arg('steps', 120)
const t0 = Date.now()
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
