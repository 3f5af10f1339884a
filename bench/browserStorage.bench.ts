/**
 * Issue 18: browser storage, Weft (`openDoc` + `IndexedDbDocStore`, a relay configured so the pending-change count
 * is stored too, default `'strict'` durability) against y-indexeddb 9.0.12 (its defaults), both on real IndexedDB
 * in headless Debian Chromium (/usr/bin/chromium, or WEFT_CHROMIUM), driven by Playwright; page: browserStorage/page.ts.
 * - Workloads: `text`, the automerge-paper trace (../shared/data; first WEFT_BENCH_BROWSER_TXNS transactions,
 *   default 5,000), and `whiteboard`, WEFT_BENCH_BROWSER_KEYS shapes (default 1,000) each moved
 *   WEFT_BENCH_BROWSER_MOVES times (default 5), one transaction per move (the first one creates the shape). WEFT_BENCH_BROWSER_FULL=1: the issue's
 *   sizes (100,000 transactions; 1,000 x 200), several minutes.
 * - Modes: `typing`, one transaction per task, writes drained every 100 transactions (time until durable); `burst`,
 *   every transaction in one task, then drained.
 * - Each system writes its own database, in a fresh page; the two alternate (A B, then B A: WEFT_BENCH_BROWSER_REPEAT
 *   rounds, default 2), and the median of the rounds is reported (every round is printed).
 * - Stored bytes: the values in the `updates`/`snapshots` stores after the typing run; the origin's
 *   `navigator.storage.estimate()` growth during each run is printed. Cold open: the browser is restarted before each
 *   pair of opens (one per system, the order alternating; median of 5); growth: stored bytes added by an open
 *   without edits. WEFT_BENCH_BROWSER_DURABILITY=relaxed: Weft with `durability: 'relaxed'`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from '@playwright/test'
import { bundle } from '../e2e/support/bundle.js'
import { serveFiles } from '../e2e/support/staticServer.js'
import type { Row } from './lib.js'
import { loadTrace } from './traces.js'
import type { BenchApi, Mode, System, Workload, WriteResult } from './browserStorage/protocol.js'

const FULL = process.env['WEFT_BENCH_BROWSER_FULL'] === '1'
const TXNS = Number(process.env['WEFT_BENCH_BROWSER_TXNS'] ?? (FULL ? 100_000 : 5000))
const KEYS = Number(process.env['WEFT_BENCH_BROWSER_KEYS'] ?? 1000)
const MOVES = Number(process.env['WEFT_BENCH_BROWSER_MOVES'] ?? (FULL ? 200 : 5))
const REPEAT = Number(process.env['WEFT_BENCH_BROWSER_REPEAT'] ?? 2)
const OPENS = 5
const DURABILITY = process.env['WEFT_BENCH_BROWSER_DURABILITY'] === 'relaxed' ? 'relaxed' : 'strict'
const MODES = (process.env['WEFT_BENCH_BROWSER_MODES'] ?? 'typing,burst').split(',') as Mode[]
const WORKLOADS = (process.env['WEFT_BENCH_BROWSER_WORKLOADS'] ?? 'text,whiteboard').split(',')

const SYSTEMS: readonly System[] = ['weft', 'y-indexeddb']
const BASELINE = 'y-indexeddb 9.0.12'
const executablePath = process.env['WEFT_CHROMIUM'] ?? '/usr/bin/chromium'
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
]

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}
const spread = (xs: readonly number[], digits = 0): string =>
  xs.length > 1
    ? `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`
    : (xs[0]?.toFixed(digits) ?? '')

/** Calls `window.bench[method](...args)` in `page`. */
const call = <K extends keyof BenchApi>(
  page: Page,
  method: K,
  ...params: Parameters<BenchApi[K]>
): Promise<Awaited<ReturnType<BenchApi[K]>>> =>
  page.evaluate(
    ([m, p]) =>
      (
        (window as unknown as { bench: Record<string, (...a: unknown[]) => unknown> }).bench[m] as (
          ...a: unknown[]
        ) => Promise<never>
      )(...p),
    [method, params] as const,
  ) as Promise<Awaited<ReturnType<BenchApi[K]>>>

export default async (): Promise<Row[]> => {
  const started = performance.now()
  const trace = loadTrace('automerge-paper', TXNS)
  const js = await bundle(fileURLToPath(new URL('./browserStorage/page.ts', import.meta.url)))
  const server = await serveFiles({
    '/index.html': '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>',
    '/app.js': js,
    '/trace.json': JSON.stringify({ txns: trace.txns.map((t) => t.patches) }),
  })
  const profile = mkdtempSync(join(tmpdir(), 'weft-bench-browser-'))
  let context: BrowserContext | null = null
  const launch = async (): Promise<BrowserContext> =>
    (context = await chromium.launchPersistentContext(profile, { executablePath, args, headless: true }))
  const relaunch = async (): Promise<BrowserContext> => {
    await context?.close()
    return launch()
  }
  const freshPage = async (): Promise<Page> => {
    const page = await (context ?? (await launch())).newPage()
    await page.goto(server.url)
    await page.waitForFunction(() => 'bench' in window)
    return page
  }

  const workloads: Array<{ label: string; workload: Workload }> = [
    { label: `text: automerge-paper, ${trace.txns.length} transactions`, workload: { kind: 'text' } },
    {
      label: `whiteboard: ${KEYS} keys x ${MOVES} moves`,
      workload: { kind: 'whiteboard', keys: KEYS, rounds: MOVES },
    },
  ]
  const rows: Row[] = []
  try {
    for (const { label, workload } of workloads.filter((w) => WORKLOADS.includes(w.workload.kind))) {
      const names = (system: System, mode: Mode, round: number) =>
        `${workload.kind}-${mode}-${round}-${system}`
      const write: Record<Mode, Record<System, WriteResult[]>> = {
        typing: { weft: [], 'y-indexeddb': [] },
        burst: { weft: [], 'y-indexeddb': [] },
      }
      const usage: Record<System, number[]> = { weft: [], 'y-indexeddb': [] }
      for (const mode of MODES) {
        for (let round = 0; round < REPEAT; round++) {
          const order = round % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse()
          for (const system of order) {
            const page = await freshPage()
            const before = await call(page, 'usage')
            const result = await call(
              page,
              'write',
              system,
              names(system, mode, round),
              workload,
              mode,
              DURABILITY,
            )
            if (mode === 'typing') usage[system].push((await call(page, 'usage')) - before)
            await page.close()
            write[mode][system].push(result)
          }
        }
      }
      // Stored bytes and opens: the databases of the first mode's first round.
      const first = MODES[0] ?? 'typing'
      const content = write[first].weft[0]?.contentSize
      for (const mode of MODES)
        for (const system of SYSTEMS)
          for (const r of write[mode][system])
            if (r.contentSize !== content) throw new Error(`${system} ${mode}: content differs`)

      // Stored bytes of the first typing round, then cold opens of those databases, the browser restarted each time.
      const page = await freshPage()
      const stored = {
        weft: await call(page, 'storedBytes', names('weft', first, 0)),
        'y-indexeddb': await call(page, 'storedBytes', names('y-indexeddb', first, 0)),
      }
      await page.close()
      const opens: Record<System, number[]> = { weft: [], 'y-indexeddb': [] }
      const growth: Record<System, number[]> = { weft: [], 'y-indexeddb': [] }
      for (let i = 0; i < OPENS; i++) {
        // One restart per pair (each database is opened once per browser session), the order alternating.
        await relaunch()
        for (const system of i % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse()) {
          const p = await freshPage()
          const opened = await call(p, 'open', system, names(system, first, 0), workload)
          if (opened.contentSize !== content) throw new Error(`${system}: opened content differs`)
          opens[system].push(opened.ms)
          growth[system].push(opened.grewBytes)
          await p.close()
        }
      }

      // Item 3: the whiteboard after history compaction (an epoch started, as the epoch policy does) against a
      // fresh document with the same content, both opened by Weft after a restart.
      let epochRow: Row | null = null
      if (workload.kind === 'whiteboard' && process.env['WEFT_BENCH_BROWSER_EPOCH'] !== '0') {
        const epochName = `${names('weft', first, 0)}-epoch`
        const freshName = `${names('weft', first, 0)}-fresh`
        const copy = await freshPage()
        const copyName = `${names('weft', first, 0)}-copy`
        // The same rows in a new database (no entries left behind by the log compactions' deletions).
        const copyDb = (to: string) =>
          copy.evaluate(
            ([from, to]) =>
              new Promise<void>((resolve, reject) => {
                // The typing run's database, copied so that the other figures keep theirs.
                const src = indexedDB.open(from)
                src.onerror = () => reject(new Error('open'))
                src.onsuccess = () => {
                  const db = src.result
                  const names = [...db.objectStoreNames]
                  const tx = db.transaction(names, 'readonly')
                  const data: Record<string, { keys: IDBValidKey[]; values: unknown[] }> = {}
                  for (const n of names) {
                    const keys = tx.objectStore(n).getAllKeys()
                    const values = tx.objectStore(n).getAll()
                    tx.addEventListener(
                      'complete',
                      () => (data[n] = { keys: keys.result, values: values.result }),
                    )
                  }
                  tx.oncomplete = () => {
                    const version = db.version
                    db.close()
                    const dst = indexedDB.open(to, version)
                    dst.onupgradeneeded = () => {
                      for (const n of names) dst.result.createObjectStore(n)
                    }
                    dst.onsuccess = () => {
                      const out = dst.result.transaction(names, 'readwrite')
                      for (const n of names)
                        data[n]?.keys.forEach((k, i) => out.objectStore(n).put(data[n]?.values[i], k))
                      out.oncomplete = () => {
                        dst.result.close()
                        resolve()
                      }
                    }
                  }
                }
              }),
            [names('weft', first, 0), to] as const,
          )
        await copyDb(copyName)
        await copyDb(epochName)
        const result = await call(copy, 'epochAndFresh', epochName, freshName)
        await copy.close()
        const variants = {
          epoch: epochName,
          fresh: freshName,
          copy: copyName,
          original: names('weft', first, 0),
        }
        const opensOf: Record<keyof typeof variants, number[]> = {
          epoch: [],
          fresh: [],
          copy: [],
          original: [],
        }
        const order = Object.keys(variants) as Array<keyof typeof variants>
        for (let i = 0; i < OPENS; i++) {
          await relaunch()
          for (const which of i % 2 === 0 ? order : [...order].reverse()) {
            const p = await freshPage()
            const opened = await call(p, 'open', 'weft', variants[which], workload)
            if (opened.contentSize !== content) throw new Error(`${which}: opened content differs`)
            opensOf[which].push(opened.ms)
            await p.close()
          }
        }
        const { epoch: epochOpens, fresh: freshOpens } = opensOf
        console.log(
          `    weft after an epoch start (${result.startMs.toFixed(0)} ms, ${result.bytes} B stored; fresh copy ` +
            `${result.freshBytes} B): cold opens ${epochOpens.map((x) => x.toFixed(0)).join(', ')} ms; fresh ` +
            `document ${freshOpens.map((x) => x.toFixed(0)).join(', ')} ms; the log-compacted database ` +
            `${opensOf.original.map((x) => x.toFixed(0)).join(', ')} ms, its rows copied to a new database ` +
            `${opensOf.copy.map((x) => x.toFixed(0)).join(', ')} ms (same restarts, order alternating)`,
        )
        epochRow = {
          bench: `browser storage (Chromium, IndexedDB), ${label}`,
          metric: `cold open after history compaction (median of ${OPENS})`,
          value: median(epochOpens),
          baseline: median(freshOpens),
          baselineName: 'fresh document, same content (Weft)',
          unit: 'ms',
          target: 2,
        }
      }

      console.log(`  ${label} (durability: Weft ${DURABILITY}, y-indexeddb default):`)
      for (const system of SYSTEMS) {
        const t = write.typing[system].map((r) => r.ms)
        const b = write.burst[system].map((r) => r.ms)
        const bi = write.burst[system].map((r) => r.issuedMs)
        console.log(
          `    ${system}: typing ${spread(t)} ms until durable (per round: ${t.map((x) => x.toFixed(0)).join(', ')}); ` +
            `burst ${spread(b)} ms (transactions made in ${spread(bi)} ms); stored ${stored[system].bytes} B in ` +
            `${stored[system].rows} rows; storage.estimate growth ${spread(usage[system].map((u) => u / 1024))} KiB; ` +
            `cold opens ${opens[system].map((x) => x.toFixed(0)).join(', ')} ms; growth per open ` +
            `${growth[system].join(', ')} B`,
        )
      }
      const n = write[first].weft[0]?.transactions ?? 1
      const per = (system: System, mode: Mode) => median(write[mode][system].map((r) => r.ms)) / n
      const bench = `browser storage (Chromium, IndexedDB), ${label}`
      const measured: Row[] = [
        {
          bench,
          metric: 'one transaction per task: time per transaction until durable',
          value: per('weft', 'typing'),
          baseline: per('y-indexeddb', 'typing'),
          baselineName: BASELINE,
          unit: 'ms',
          target: 1.2,
        },
        {
          bench,
          metric: 'burst in one task: time per transaction until durable',
          value: per('weft', 'burst'),
          baseline: per('y-indexeddb', 'burst'),
          baselineName: BASELINE,
          unit: 'ms',
          target: 0.5,
        },
        {
          bench,
          metric: `stored bytes (values) after the ${first} run`,
          value: stored.weft.bytes,
          baseline: stored['y-indexeddb'].bytes,
          baselineName: BASELINE,
          unit: 'B',
        },
        {
          bench,
          metric: `cold open after a browser restart (median of ${OPENS})`,
          value: median(opens.weft),
          baseline: median(opens['y-indexeddb']),
          baselineName: BASELINE,
          unit: 'ms',
        },
        {
          bench,
          metric: 'bytes added by an open without edits (median)',
          value: median(growth.weft),
          baseline: median(growth['y-indexeddb']),
          baselineName: BASELINE,
          unit: 'B',
        },
      ]
      if (epochRow) measured.push(epochRow)
      rows.push(...measured.filter((r) => Number.isFinite(r.value / r.baseline) || r.value === 0))
    }
  } finally {
    await (context as BrowserContext | null)?.close()
    await server.close()
    rmSync(profile, { recursive: true, force: true })
  }
  console.log(`  (browser storage bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`)
  return rows
}
