/**
 * Starts one of the three servers as a child process on 127.0.0.1 with port 0 and learns its port from the JSON line
 * it logs (`{"msg":"listening","port":N}`; Weft's own pino line has the same fields). Every child started here is
 * killed by {@link killAllChildren}, which the benchmark calls on every exit path; each child also exits by itself
 * when its stdin closes, i.e. when the benchmark process dies.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import {
  ASYNC_PRELOAD,
  JIT_FLAGS,
  JIT_PRELOAD,
  PROFILE_PRELOAD,
  profileDir,
  profileEnv,
  profileModeFromEnv,
} from './measuredWindow.js'
import { cpuSeconds, rssBytes } from './procStats.js'

/** The servers compared, and the fan-out's floor (bench/server/floorServer.ts, not a usable server). */
export type ServerKind = 'weft' | 'y-websocket-server' | 'hocuspocus' | 'floor'

/** Display names, with the versions measured. */
export const SERVER_NAMES: Record<ServerKind, string> = {
  weft: 'Weft',
  'y-websocket-server': '@y/websocket-server 0.1.1',
  hocuspocus: 'Hocuspocus 4.7',
  floor: 'floor (forwarding only)',
}

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const WEFT_BIN = 'signaling/bin/weft.js'

/**
 * Preloaded into every child: exit when stdin ends (the parent died), so no server outlives the benchmark. Loaded
 * in the child's own process, before its entry point; it does nothing else. Node runs `--import` preloads in every
 * worker thread too, where `process.stdin` is an empty stream that ends at once and `process.exit` ends the thread:
 * unguarded, it killed the relay's compaction worker (RELAY-3.8) as it started, so a large room retried its
 * compaction, thread start and a copy of its state, at every update (17 ms of CPU per update on a 2 MiB board in
 * the rules benchmark, issue #13). Hence main thread only.
 */
export const EXIT_WITH_PARENT = `data:text/javascript,${encodeURIComponent(
  'import{isMainThread}from"node:worker_threads";if(isMainThread){process.stdin.on("end",()=>process.exit(0));process.stdin.on("error",()=>process.exit(0));process.stdin.resume()}',
)}`

const children = new Set<ChildProcess>()
/** Data directories of running Weft servers, removed by {@link killAllChildren} too. */
const dataDirs = new Set<string>()

/** Starts `command` from the repository root and keeps it in the set {@link killAllChildren} kills. */
const spawnChild = (command: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess => {
  const child = spawn(command, [...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Spawns a Node child with the exit-with-parent preload; the caller's execArgv (e.g. `--conditions`) is not passed. */
export const spawnNode = (args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess =>
  spawnChild(process.execPath, ['--import', EXIT_WITH_PARENT, ...args], { NODE_OPTIONS: '', ...env })

/**
 * Executes `file` (a Node script with a shebang, as `npx` runs a package's bin, so the Node flags of its shebang
 * apply) with the exit-with-parent preload given through `NODE_OPTIONS`.
 */
export const spawnExecutable = (
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  preloads: readonly string[] = [],
  flags: readonly string[] = [],
): ChildProcess =>
  spawnChild(join(root, file), args, {
    ...env,
    NODE_OPTIONS: [...flags, ...[EXIT_WITH_PARENT, ...preloads].map((p) => `--import=${p}`)].join(' '),
  })

/** The Node flags of an executable script's shebang (`#!/usr/bin/env -S node --flag ...`: the flags). */
const shebangFlags = (file: string): string[] => {
  const first = readFileSync(join(root, file), 'utf8').split('\n', 1)[0] ?? ''
  const words = first.split(/\s+/)
  const node = words.indexOf('node')
  return node < 0 ? [] : words.slice(node + 1).filter((w) => w !== '')
}

/**
 * `WEFT_BENCH_PROFILE=jit`: Node with `args` under V8's optimization traces, its standard output line buffered
 * (`stdbuf -oL`: V8 prints through C's stdio, whose buffer a SIGKILL would lose), the window marker preloaded.
 */
const spawnTraced = (args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess =>
  spawnChild(
    'stdbuf',
    ['-oL', process.execPath, '--import', EXIT_WITH_PARENT, ...JIT_FLAGS, '--import', JIT_PRELOAD, ...args],
    { NODE_OPTIONS: '', ...env },
  )

/**
 * Kills (SIGKILL) every child still running and removes the servers' data directories. Synchronous, so it can run
 * in an `exit` handler.
 */
export const killAllChildren = (): void => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
  dataDirs.clear()
}

/**
 * Kills every child if the benchmark exits or is interrupted (SIGINT, SIGTERM: exit code 130) before it is done.
 * Returns the release: kills the children still running and removes the handlers (call it in a `finally`).
 */
export const guardChildren = (): (() => void) => {
  const onSignal = () => {
    killAllChildren()
    process.exit(130)
  }
  process.once('exit', killAllChildren)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return () => {
    killAllChildren()
    process.off('exit', killAllChildren)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** A running server. */
export interface ServerProcess {
  readonly kind: ServerKind
  readonly pid: number
  readonly port: number
  /** CPU seconds the server has used so far. */
  cpuSeconds(): number
  /** Its resident set size now, in bytes. */
  rssBytes(): number
  /** The last lines it wrote to stderr and stdout (for error messages). */
  tail(): string
  /** Kills it and removes its data directory. */
  stop(): Promise<void>
}

/**
 * Starts the server. Weft runs as `npx weft serve` runs it (its bin executed, with the Node flags of its shebang:
 * a capped young generation); the others are scripts using their libraries, under Node's defaults.
 */
const spawnServer = (kind: ServerKind, dataDir: string | null): ChildProcess => {
  // WEFT_BENCH_PROFILE=cpu (async): every server gets the same profiler (counter) preload (bench/server/measuredWindow.ts).
  const mode = profileModeFromEnv()
  const preloads = mode === 'cpu' ? [PROFILE_PRELOAD] : mode === 'async' ? [ASYNC_PRELOAD] : []
  // WEFT_BENCH_PROFILE=perf: JIT-compiled functions named for `perf report` (a map file in /tmp per process).
  const flags = mode === 'perf' ? ['--perf-basic-prof'] : []
  const env = profileEnv(kind)
  const script = (file: string) => {
    const args = [...flags, ...preloads.flatMap((p) => ['--import', p]), '--import', 'tsx', file]
    return mode === 'jit' ? spawnTraced(args, env) : spawnNode(args, env)
  }
  const serve = ['serve', ...['--host', '127.0.0.1', '--port', '0', '--data', dataDir ?? '']]
  switch (kind) {
    case 'weft':
      // Traced, Weft runs as its bin does (the flags of its shebang), through `node` itself.
      if (mode === 'jit') return spawnTraced([...shebangFlags(WEFT_BIN), WEFT_BIN, ...serve], env)
      return spawnExecutable(WEFT_BIN, serve, env, preloads, flags)
    case 'y-websocket-server':
      return script('bench/server/ywsServer.ts')
    case 'hocuspocus':
      return script('bench/server/hocuspocusServer.ts')
    case 'floor':
      return script('bench/server/floorServer.ts')
  }
}

/** Starts a `kind` server and resolves once it listens (rejects after `timeoutMs`). */
export const startServer = async (kind: ServerKind, timeoutMs = 30_000): Promise<ServerProcess> => {
  const dataDir = kind === 'weft' ? mkdtempSync(join(tmpdir(), 'weft-bench-')) : null
  if (dataDir) dataDirs.add(dataDir)
  const child = spawnServer(kind, dataDir)
  const lines: string[] = []
  const keep = (line: string) => {
    lines.push(line)
    if (lines.length > 40) lines.shift()
  }
  if (child.stderr) createInterface({ input: child.stderr }).on('line', keep)
  const stopped = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await stopped
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true })
      dataDirs.delete(dataDir)
    }
  }
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start in ${timeoutMs} ms`)), timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${kind} exited (${code ?? signal}) before listening:\n${lines.join('\n')}`))
    })
    if (!child.stdout) return reject(new Error('no stdout'))
    // WEFT_BENCH_PROFILE=jit: V8's traces (on stdout) are kept whole.
    const trace: WriteStream | null =
      profileModeFromEnv() === 'jit'
        ? createWriteStream(join(profileDir(), `jit-${kind}-${child.pid ?? 'unknown'}.log`))
        : null
    // Keep reading stdout for the child's whole life, so that its logging never blocks on a full pipe.
    createInterface({ input: child.stdout }).on('line', (line) => {
      trace?.write(`${line}\n`)
      keep(line)
      try {
        const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown }
        if (parsed.msg === 'listening' && typeof parsed.port === 'number') {
          clearTimeout(timer)
          resolve(parsed.port)
        }
      } catch {
        // Not JSON: a banner or a warning.
      }
    })
  }).catch(async (err: unknown) => {
    await stop()
    throw err
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`${kind}: no pid`)
  return {
    kind,
    pid,
    port,
    cpuSeconds: () => cpuSeconds(pid),
    rssBytes: () => rssBytes(pid),
    tail: () => lines.join('\n'),
    stop,
  }
}
