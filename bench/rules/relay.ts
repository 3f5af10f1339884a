/**
 * The relays of the rules benchmark: `weft serve --data <dir>` (SQLite store) started as the docs show, in its own
 * process on 127.0.0.1 with port 0, with or without `--rules demo/scripts/rules.mjs` (the demo's rules: every room but
 * a workspace catalogue is a ruled whiteboard document). CPU time is read from /proc; memory is read inside the relay
 * after two full garbage collections, through a small preload ({@link MEMORY_PROBE}) that does nothing until the
 * benchmark asks (a `mem` line on the child's stdin).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { docId } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { spawnExecutable } from '../server/ServerProcess.js'
import { cpuSeconds, rssBytes } from '../server/procStats.js'
import { listeningPort } from '../workspace/listeningPort.js'

/** The demo's rules module, as `npm start` passes it to `weft serve --rules` (docs/guides/rules.md). */
export const DEMO_RULES_MODULE = 'demo/scripts/rules.mjs'

/** The relay's store file in its data directory (signaling/src/relay/openRelayStore.ts, RELAY_DB_FILE). */
const RELAY_DB_FILE = 'weft.sqlite'

/**
 * Preloaded into the relay: on a `mem` line on stdin, collects garbage twice (V8's `gc`, exposed at run time) and
 * writes `WEFT_BENCH_MEM {rss, heapUsed, external, arrayBuffers}` to stderr. Idle otherwise. Main thread only: Node
 * runs preloads in worker threads too (the relay's compaction worker), see EXIT_WITH_PARENT.
 */
const MEMORY_PROBE = `data:text/javascript,${encodeURIComponent(`
import v8 from 'node:v8'
import vm from 'node:vm'
import { isMainThread } from 'node:worker_threads'
if (isMainThread) probe()
function probe() {
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
let buf = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buf += chunk
  let i
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i)
    buf = buf.slice(i + 1)
    if (line !== 'mem') continue
    gc()
    gc()
    const m = process.memoryUsage()
    process.stderr.write('WEFT_BENCH_MEM ' + JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }) + '\\n')
  }
})
}
`)}`

/** The relay's memory after two full garbage collections, in bytes. */
export interface RelayMemory {
  readonly rss: number
  readonly heapUsed: number
  /** Memory of C++ objects bound to JavaScript ones, Buffers and ArrayBuffers included. */
  readonly external: number
  readonly arrayBuffers: number
}

/** A running `weft serve`. */
export interface RulesRelay {
  readonly name: string
  readonly pid: number
  readonly port: number
  /** The relay endpoint, `ws://127.0.0.1:<port>/relay` (the room is appended as a path segment). */
  readonly url: string
  /** CPU seconds (user + system) the relay has used so far. */
  cpuSeconds(): number
  rssBytes(): number
  /** Its memory after a full garbage collection (asked through the preloaded probe). */
  memory(): Promise<RelayMemory>
  /**
   * The error lines (pino level 50 and above) the relay logged so far, e.g. `compaction failed`: a benchmark whose
   * relay logged one measured a broken relay, not a working one (issue #13: a compaction worker killed at its start).
   */
  errors(): readonly string[]
  /** Kills it and removes its data directory. */
  stop(): Promise<void>
}

/** A new relay data directory holding `rooms` (room name → a Yjs update of its document), stored as the relay stores. */
export const seedRelayDir = async (rooms: ReadonlyMap<string, Uint8Array>): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-rules-bench-'))
  const store = new SqliteDocStore({ path: join(dir, RELAY_DB_FILE), durability: 'normal' })
  for (const [room, update] of rooms) await store.append(docId(room), update)
  await store.close()
  return dir
}

/**
 * Starts `weft serve --data dir` (plus `--rules` {@link DEMO_RULES_MODULE} when `ruled`); resolves once it listens.
 * The directory is removed by `stop()`.
 */
export const startRulesRelay = async (dir: string, ruled: boolean): Promise<RulesRelay> => {
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--data', dir]
  if (ruled) args.push('--rules', DEMO_RULES_MODULE)
  const child = spawnExecutable('signaling/bin/weft.js', args, {}, [MEMORY_PROBE])
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const name = ruled ? 'weft serve --rules' : 'weft serve'
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  const waiting: Array<(m: RelayMemory) => void> = []
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.startsWith('WEFT_BENCH_MEM ')) waiting.shift()?.(JSON.parse(line.slice(15)) as RelayMemory)
    })
  }
  const errors: string[] = []
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (/^\{"level":(5|6)\d/.test(line)) errors.push(line)
    })
  }
  const port = await listeningPort(child, name, 60_000).catch(async (err: unknown) => {
    await stop()
    throw err
  })
  const pid = child.pid as number
  return {
    name,
    pid,
    port,
    url: `ws://127.0.0.1:${port}/relay`,
    cpuSeconds: () => cpuSeconds(pid),
    rssBytes: () => rssBytes(pid),
    errors: () => errors,
    memory: () =>
      new Promise<RelayMemory>((resolve, reject) => {
        if (!child.stdin) return reject(new Error('no stdin'))
        waiting.push(resolve)
        child.stdin.write('mem\n')
      }),
    stop,
  }
}
