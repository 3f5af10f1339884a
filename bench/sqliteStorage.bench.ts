/**
 * Issue 18, item 4: the Node peer's and the relay's storage ceiling. Weft (`openDoc` + `SqliteDocStore`, a relay
 * configured so the pending-change count is stored too, default `'full'` durability) against a plain better-sqlite3
 * append loop (one `INSERT` of each Yjs update in its own transaction, WAL, `synchronous = FULL`: what a minimal
 * y-leveldb-style persistence does), same process, same workloads as bench/browserStorage.bench.ts.
 * - Modes: `typing`, one transaction per task (setImmediate), writes drained every 100; `burst`, all in one task.
 * - Each run writes a new file; the two alternate (A B, then B A), WEFT_BENCH_SQLITE_REPEAT rounds (default 2).
 * - Stored bytes: the file with its WAL after the typing run (`wal_checkpoint(TRUNCATE)` first); cold open: open
 *   the file, load, apply to a new Y.Doc (median of 5).
 * Sizes: WEFT_BENCH_SQLITE_TXNS (default 10,000 transactions of the automerge-paper trace), WEFT_BENCH_SQLITE_MOVES
 * (default 10 moves of 1,000 shapes).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { MemoryNetwork } from '@weft/core/testing'
import { openDoc } from '@weft/providers'
import { SqliteDocStore, sqliteFileBytes } from '@weft/sqlite-store'
import type { Row } from './lib.js'
import { loadTrace } from './traces.js'

const TXNS = Number(process.env['WEFT_BENCH_SQLITE_TXNS'] ?? 10_000)
const KEYS = 1000
const MOVES = Number(process.env['WEFT_BENCH_SQLITE_MOVES'] ?? 10)
const REPEAT = Number(process.env['WEFT_BENCH_SQLITE_REPEAT'] ?? 2)
const OPENS = 5
const BASELINE = 'better-sqlite3 append loop'

type System = 'weft' | 'plain'
type Mode = 'typing' | 'burst'
const SYSTEMS: readonly System[] = ['weft', 'plain']

interface Handle {
  readonly doc: Y.Doc
  drain(): Promise<void>
  close(): Promise<void>
}

/** The plain loop: every update inserted in its own (autocommitted, fsynced) transaction, synchronously. */
const openPlain = (path: string): Handle => {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE IF NOT EXISTS updates (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL)')
  const doc = new Y.Doc()
  const rows = db.prepare('SELECT data FROM updates ORDER BY id').all() as Array<{ data: Buffer }>
  doc.transact(() => {
    for (const row of rows) Y.applyUpdate(doc, row.data)
  }, 'load')
  const insert = db.prepare('INSERT INTO updates (data) VALUES (?)')
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== 'load') insert.run(update)
  })
  return {
    doc,
    drain: () => Promise.resolve(),
    close: () => {
      db.close()
      return Promise.resolve()
    },
  }
}

const openWeft = async (path: string): Promise<Handle> => {
  const store = new SqliteDocStore({ path })
  const d = await openDoc({
    docId: 'bench',
    store,
    relay: new MemoryNetwork().transport('relay'),
    connect: false,
  })
  return {
    doc: d.doc,
    drain: async () => d.persistence?.flushed(),
    close: async () => {
      await d.destroy()
      await store.close()
    },
  }
}

const open = (system: System, path: string): Promise<Handle> | Handle =>
  system === 'weft' ? openWeft(path) : openPlain(path)

const nextTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

export default async (): Promise<Row[]> => {
  const trace = loadTrace('automerge-paper', TXNS)
  const workloads: Array<{ label: string; count: number; edit: (doc: Y.Doc, i: number) => void }> = [
    {
      label: `text: automerge-paper, ${trace.txns.length} transactions`,
      count: trace.txns.length,
      edit: (doc, i) => {
        const text = doc.getText('text')
        doc.transact(() => {
          for (const [pos, del, ins] of trace.txns[i]?.patches ?? []) {
            if (del > 0) text.delete(pos, del)
            if (ins) text.insert(pos, ins)
          }
        })
      },
    },
    {
      label: `whiteboard: ${KEYS} keys x ${MOVES} moves`,
      count: KEYS * MOVES,
      edit: (doc, i) => {
        const shapes = doc.getMap<Y.Map<number | string>>('shapes')
        const key = `shape-${i % KEYS}`
        const round = Math.floor(i / KEYS)
        doc.transact(() => {
          if (round === 0) shapes.set(key, new Y.Map<number | string>())
          const shape = shapes.get(key)
          shape?.set('x', (round * 7 + i) % 1920)
          shape?.set('y', (round * 13 + i) % 1080)
        })
      },
    },
  ]
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-sqlite-'))
  const rows: Row[] = []
  try {
    for (const { label, count, edit } of workloads) {
      const times: Record<Mode, Record<System, number[]>> = {
        typing: { weft: [], plain: [] },
        burst: { weft: [], plain: [] },
      }
      const file = (system: System, mode: Mode, round: number) =>
        join(dir, `${label.slice(0, 4)}-${mode}-${round}-${system}.db`)
      for (const mode of ['typing', 'burst'] as const) {
        for (let round = 0; round < REPEAT; round++) {
          for (const system of round % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse()) {
            const h = await open(system, file(system, mode, round))
            const started = performance.now()
            for (let i = 0; i < count; i++) {
              edit(h.doc, i)
              if (mode === 'typing') {
                await nextTask()
                if (i % 100 === 99) await h.drain()
              }
            }
            await h.drain()
            times[mode][system].push(performance.now() - started)
            await h.close()
          }
        }
      }
      const bytes = {} as Record<System, number>
      for (const system of SYSTEMS) {
        const path = file(system, 'typing', 0)
        const db = new Database(path)
        db.pragma('wal_checkpoint(TRUNCATE)')
        db.close()
        bytes[system] = sqliteFileBytes(path)
      }
      const opens: Record<System, number[]> = { weft: [], plain: [] }
      for (let i = 0; i < OPENS; i++) {
        for (const system of i % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse()) {
          const started = performance.now()
          const h = await open(system, file(system, 'typing', 0))
          opens[system].push(performance.now() - started)
          await h.close()
        }
      }
      for (const system of SYSTEMS)
        console.log(
          `  ${label}, ${system}: typing ${times.typing[system].map((t) => t.toFixed(0)).join(', ')} ms; ` +
            `burst ${times.burst[system].map((t) => t.toFixed(0)).join(', ')} ms; file ${bytes[system]} B; ` +
            `cold opens ${opens[system].map((t) => t.toFixed(1)).join(', ')} ms`,
        )
      const per = (system: System, mode: Mode) => median(times[mode][system]) / count
      const bench = `SQLite storage (Node), ${label}`
      rows.push(
        {
          bench,
          metric: 'one transaction per task: time per transaction until durable',
          value: per('weft', 'typing'),
          baseline: per('plain', 'typing'),
          baselineName: BASELINE,
          unit: 'ms',
        },
        {
          bench,
          metric: 'burst in one task: time per transaction until durable',
          value: per('weft', 'burst'),
          baseline: per('plain', 'burst'),
          baselineName: BASELINE,
          unit: 'ms',
        },
        {
          bench,
          metric: 'file bytes after the typing run',
          value: bytes.weft,
          baseline: bytes.plain,
          baselineName: BASELINE,
          unit: 'B',
        },
        {
          bench,
          metric: `cold open (median of ${OPENS})`,
          value: median(opens.weft),
          baseline: median(opens.plain),
          baselineName: BASELINE,
          unit: 'ms',
        },
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
