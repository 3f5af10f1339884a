#!/usr/bin/env node
// `npm test`: every test. Unit and integration tests (vitest, all workspaces), then browser end-to-end tests
// (Playwright in Debian's Chromium). Ends with one plain summary line: "N passed, N failed[, N skipped]".
//
// Chromium: if /usr/bin/chromium is missing and we are root with apt-get, it is installed (apt-get install -y
// chromium); otherwise the command says exactly what to install and the browser tests count as failed.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CHROMIUM = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium'
const args = process.argv.slice(2)
const only = args.find((a) => a === '--unit' || a === '--e2e')
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
const out = mkdtempSync(join(tmpdir(), 'weft-test-'))
const totals = { passed: 0, failed: 0, skipped: 0 }

const run = (cmd, cmdArgs, extraEnv = {}) =>
  spawnSync(cmd, cmdArgs, { stdio: 'inherit', env: { ...env, ...extraEnv } }).status ?? 1

const ensureChromium = () => {
  if (existsSync(CHROMIUM)) return true
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (isRoot && spawnSync('which', ['apt-get']).status === 0) {
    console.log(
      `[weft test] ${CHROMIUM} is missing: installing Debian's chromium (apt-get install -y chromium)`,
    )
    run('apt-get', ['update', '-qq'])
    run('apt-get', ['install', '-y', '-qq', 'chromium'], { DEBIAN_FRONTEND: 'noninteractive' })
    if (existsSync(CHROMIUM)) return true
  }
  console.error(
    `[weft test] Browser tests need Chromium at ${CHROMIUM} and it is missing.\n` +
      `  Install it with:  sudo apt-get update && sudo apt-get install -y chromium\n` +
      `  (or point WEFT_CHROMIUM at a Chromium binary). Never 'npx playwright install': it downloads a browser.`,
  )
  return false
}

let exit = 0
if (only !== '--e2e') {
  const file = join(out, 'vitest.json')
  const code = run('npx', [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${file}`,
  ])
  if (existsSync(file)) {
    const r = JSON.parse(readFileSync(file, 'utf8'))
    totals.passed += r.numPassedTests
    totals.failed += r.numFailedTests
    totals.skipped += r.numPendingTests + r.numTodoTests
    if (code !== 0 && r.numFailedTests === 0) totals.failed += 1 // a suite that failed to load
  } else totals.failed += 1
  if (code !== 0) exit = 1
}

const hasE2e = existsSync('e2e') && readdirSync('e2e').some((f) => f.endsWith('.spec.ts'))
if (only !== '--unit' && hasE2e) {
  if (!ensureChromium()) {
    totals.failed += 1
    exit = 1
  } else {
    const file = join(out, 'playwright.json')
    const code = run('npx', ['playwright', 'test', '--reporter=list,json'], {
      PLAYWRIGHT_JSON_OUTPUT_NAME: file,
    })
    if (existsSync(file)) {
      const s = JSON.parse(readFileSync(file, 'utf8')).stats
      totals.passed += s.expected + (s.flaky ?? 0)
      totals.failed += s.unexpected
      totals.skipped += s.skipped
      if (code !== 0 && s.unexpected === 0) totals.failed += 1
    } else totals.failed += 1
    if (code !== 0) exit = 1
  }
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
process.exit(exit)
