/**
 * Issue 13: what a server does during a fan-out's measured window, seen from outside it. With
 * `WEFT_BENCH_PROFILE=cpu` every server of the run records a V8 CPU profile of exactly the editing phase (started and
 * stopped by the client process with SIGUSR2, through an in-process inspector session preloaded into the server:
 * `--cpu-prof` would cover the whole life of the process, warm-up and joins included, and is not written on the
 * SIGKILL that ends a round); with `WEFT_BENCH_PROFILE=strace` the client process attaches `strace -c -f` to the
 * server for the same window, with `WEFT_BENCH_PROFILE=perf` `perf record -g` at 2 kHz (every thread, the kernel
 * included; the servers run with `--perf-basic-prof`, so JavaScript frames are named from `/tmp/perf-<pid>.map`),
 * with `WEFT_BENCH_PROFILE=jit` every server runs with V8's `--trace-opt --trace-deopt` (its standard output line
 * buffered, the window's start and end marked in it) and its output goes to `jit-<server>-<pid>.log`: what the
 * optimizing compiler did and undid over the window, summarized by `bench/server/jitSummary.ts`; with
 * `WEFT_BENCH_PROFILE=async` every server counts the asynchronous resources it creates over the window, by type
 * (`Timeout`, `Immediate`, `TickObject` for `process.nextTick`, `PROMISE`, `WRITEWRAP`, ...: node:async_hooks), and
 * writes them to `async-<server>-<pid>.json` (the hook slows the server: read the counts, not its CPU).
 * Files go to `WEFT_BENCH_PROFILE_DIR` (default: the system temp directory), named `<server>-<pid>-<n>.cpuprofile`,
 * `strace-<server>-<pid>.txt` and `perf-<server>-<pid>.data` (read it with `perf report -i`); summarize a profile with
 * `node --import tsx bench/server/profileSummary.ts <file>`. Both tools slow the server (a 100 µs sampling interval,
 * ptrace on every system call): the CPU figures of a round measured this way are not comparable with others, only
 * the shares inside a profile and the system call counts are.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import type { ServerKind } from './ServerProcess.js'

/** What is recorded over the measured window. */
export type ProfileMode = 'cpu' | 'strace' | 'perf' | 'jit' | 'async'

/** `WEFT_BENCH_PROFILE` (`cpu`, `strace`, `perf`, `jit`, `async`, or unset: nothing), checked. */
export const profileModeFromEnv = (env: NodeJS.ProcessEnv = process.env): ProfileMode | null => {
  const raw = env['WEFT_BENCH_PROFILE']
  if (raw === undefined || raw === '') return null
  if (raw !== 'cpu' && raw !== 'strace' && raw !== 'perf' && raw !== 'jit' && raw !== 'async')
    throw new Error(`WEFT_BENCH_PROFILE must be cpu, strace, perf, jit or async, got ${raw}`)
  return raw
}

/** Where the profiles go. */
export const profileDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env['WEFT_BENCH_PROFILE_DIR'] || tmpdir()

/**
 * Preloaded into a server when `WEFT_BENCH_PROFILE=cpu`: SIGUSR2 starts a CPU profile (100 µs sampling), the next
 * SIGUSR2 stops it and writes it. Does nothing else; without the signal it costs nothing.
 */
export const PROFILE_PRELOAD = `data:text/javascript,${encodeURIComponent(`
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
const session = new Session()
session.connect()
let on = false
let n = 0
process.on('SIGUSR2', () => {
  on = !on
  if (on) {
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 100 }, () => session.post('Profiler.start')))
    return
  }
  session.post('Profiler.stop', (err, res) => {
    if (err) return
    const file = process.env.WEFT_BENCH_PROFILE_DIR + '/' + process.env.WEFT_BENCH_PROFILE_KIND + '-' + process.pid + '-' + n++ + '.cpuprofile'
    writeFileSync(file, JSON.stringify(res.profile))
  })
})
`)}`

/**
 * Preloaded into a server when `WEFT_BENCH_PROFILE=async`: between two SIGUSR2, counts the asynchronous resources
 * created, by type, and where every 20th of each type was made (`sampled`: stack and estimated count, most first),
 * and writes them as JSON (`async-<kind>-<pid>.json`). Does nothing else.
 */
export const ASYNC_PRELOAD = `data:text/javascript,${encodeURIComponent(`
import { createHook } from 'node:async_hooks'
import { writeFileSync } from 'node:fs'
const counts = {}
const stacks = {}
const hook = createHook({
  init(id, type) {
    const n = (counts[type] = (counts[type] ?? 0) + 1)
    if (n % 20 !== 0) return
    // Every 20th resource of a type: where it was made (the frames below the hook's own), a sample of the causes.
    const frames = new Error().stack.split(String.fromCharCode(10)).slice(3, 11).map((line) => line.trim())
    const key = type + ' ' + frames.join(' < ')
    stacks[key] = (stacks[key] ?? 0) + 20
  },
})
let on = false
process.on('SIGUSR2', () => {
  on = !on
  if (on) return void hook.enable()
  hook.disable()
  const file = process.env.WEFT_BENCH_PROFILE_DIR + '/async-' + process.env.WEFT_BENCH_PROFILE_KIND + '-' + process.pid + '.json'
  const sampled = Object.entries(stacks).sort((a, b) => b[1] - a[1])
  writeFileSync(file, JSON.stringify({ counts, sampled }, null, 1))
})
`)}`

/** The line {@link JIT_PRELOAD} writes when the measured window starts, and when it ends. */
export const JIT_WINDOW_START = '[weft-bench window start]'
export const JIT_WINDOW_END = '[weft-bench window end]'

/**
 * Preloaded into a server when `WEFT_BENCH_PROFILE=jit`: SIGUSR2 writes {@link JIT_WINDOW_START}, the next one
 * {@link JIT_WINDOW_END}, into the standard output V8's traces go to. Does nothing else.
 */
export const JIT_PRELOAD = `data:text/javascript,${encodeURIComponent(`
let on = false
process.on('SIGUSR2', () => {
  on = !on
  process.stdout.write(on ? ${JSON.stringify(`${JIT_WINDOW_START}\n`)} : ${JSON.stringify(`${JIT_WINDOW_END}\n`)})
})
`)}`

/** V8's flags of `WEFT_BENCH_PROFILE=jit`. */
export const JIT_FLAGS = ['--trace-opt', '--trace-deopt'] as const

/** The extra environment of a server child: which server it is, and where its profiles go. */
export const profileEnv = (kind: ServerKind): NodeJS.ProcessEnv =>
  profileModeFromEnv() === null ? {} : { WEFT_BENCH_PROFILE_KIND: kind, WEFT_BENCH_PROFILE_DIR: profileDir() }

/** A recording of one server over the measured window; `stop()` ends it (the profile is written soon after). */
export interface WindowProbe {
  stop(): Promise<void>
}

const NOTHING: WindowProbe = { stop: () => Promise.resolve() }

/** Starts recording server `pid` (`kind`) as `WEFT_BENCH_PROFILE` says; resolves once the recording runs. */
export const startWindowProbe = async (kind: ServerKind, pid: number): Promise<WindowProbe> => {
  const mode = profileModeFromEnv()
  if (mode === 'cpu' || mode === 'jit' || mode === 'async') {
    process.kill(pid, 'SIGUSR2')
    return { stop: () => Promise.resolve(void process.kill(pid, 'SIGUSR2')) }
  }
  if (mode === null) return NOTHING
  const out = `${profileDir()}/${mode}-${kind}-${pid}.${mode === 'perf' ? 'data' : 'txt'}`
  const args =
    mode === 'perf'
      ? ['record', '-g', '-F', '2000', '-p', String(pid), '-o', out]
      : ['-c', '-f', '-p', String(pid), '-o', out]
  const recorder: ChildProcess = spawn(mode, args, { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => {
    recorder.once('exit', () => resolve())
    recorder.once('error', () => resolve())
  })
  // Both attach to every thread before they count; give them that time (outside the measured window).
  await new Promise((resolve) => setTimeout(resolve, 500))
  return {
    stop: async () => {
      recorder.kill('SIGINT')
      await exited
    },
  }
}
