/**
 * `npm run bench [-- name...]`: runs every `bench/*.bench.ts` (or the named ones) and prints ratio rows.
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { report, type Bench } from './lib.js'

const dir = dirname(fileURLToPath(import.meta.url))
// Flags (`--scale 0.1` of bench/workspace.bench.ts) and their values are not bench names.
const args = process.argv.slice(2)
const only = args.filter((a, i) => !a.startsWith('-') && !(i > 0 && args[i - 1] === '--scale'))
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()

let allMet = true
for (const file of files) {
  console.log(`\n# ${file}`)
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: Bench }
  const rows = await mod.default()
  allMet = report(rows) && allMet
}
console.log(allMet ? '\nall targets met' : '\nsome targets missed (see MISSED rows)')
