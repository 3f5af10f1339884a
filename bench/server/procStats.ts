/**
 * Reads another process's CPU time and memory from /proc (Linux), so the three servers are measured the same way
 * without their cooperation.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

let ticks = 0
const clockTicks = (): number => {
  if (ticks === 0) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticks = 100
    }
  }
  return ticks
}

/**
 * CPU seconds used so far by process `pid`, in user space and in the kernel (resolution 1/CLK_TCK). With `tid`,
 * only that thread's (the process id is its main thread: the event loop; the rest is V8's compiler and GC helpers,
 * libuv's pool and workers).
 */
export const cpuTimes = (pid: number, tid?: number): { user: number; system: number } => {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces) start at the state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / clockTicks(), system: Number(fields[12]) / clockTicks() }
}

/** User + system CPU seconds used so far by process `pid` (resolution 1/CLK_TCK, usually 10 ms). */
export const cpuSeconds = (pid: number): number => {
  const { user, system } = cpuTimes(pid)
  return user + system
}

const statusField = (pid: number, name: string): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match?.[1]) throw new Error(`no ${name} in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

/** Resident set size of `pid`, in bytes. */
export const rssBytes = (pid: number): number => statusField(pid, 'VmRSS')

/** Peak resident set size of `pid` since start or since {@link resetPeakRss}, in bytes. */
export const peakRssBytes = (pid: number): number => statusField(pid, 'VmHWM')

/** Resets the kernel's peak RSS mark of `pid` (writes 5 to clear_refs). Returns whether that worked. */
export const resetPeakRss = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return peakRssBytes(pid) <= rssBytes(pid) + 4096 * 16
  } catch {
    return false
  }
}

/** Samples the RSS of `pid` every `everyMs` until stopped; `stop()` returns the largest sample. */
export const watchPeakRss = (pid: number, everyMs = 20): { stop(): number } => {
  let peak = 0
  const sample = () => {
    try {
      peak = Math.max(peak, rssBytes(pid))
    } catch {
      // The process is gone: keep what was seen.
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return peak
    },
  }
}
