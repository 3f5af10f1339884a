/**
 * Summarizes a V8 CPU profile (`.cpuprofile`, e.g. one written by `WEFT_BENCH_PROFILE=cpu`, see
 * bench/server/measuredWindow.ts): the functions with the most self time, as a share of the time the thread was busy
 * (every sample but `(idle)`), and, with `--inclusive`, the functions with the most time including their callees.
 *
 * `node --import tsx bench/server/profileSummary.ts <file.cpuprofile> [top=30] [--inclusive]`
 *
 * The profiler samples wall time: time the thread spent blocked in a system call (an fsync) or waiting for a CPU on
 * a loaded machine counts as busy in whatever function was running.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: readonly number[]
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** One function's share of a profile. */
export interface FunctionTime {
  /** `name file:line:column` (file relative to node_modules or the repository). */
  readonly name: string
  readonly ms: number
  /** Share of the busy time (all samples but idle), 0..1. */
  readonly share: number
}

/** A profile's busy time and its functions by self time (and by inclusive time), largest first. */
export interface ProfileSummary {
  readonly totalMs: number
  readonly busyMs: number
  readonly self: readonly FunctionTime[]
  readonly inclusive: readonly FunctionTime[]
}

const IDLE = '(idle)'

const nameOf = (node: ProfileNode): string => {
  const { functionName, url, lineNumber, columnNumber } = node.callFrame
  const file = url
    .replace(/^.*node_modules\//, '')
    .replace(/^file:\/\/.*?\/(core|signaling|sqlite-store|bench)\//, '$1/')
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}:${columnNumber + 1}`
}

/** Self and inclusive time per function of `profile`. */
export const summarizeProfile = (profile: Profile): ProfileSummary => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfById = new Map<number, number>()
  let total = 0
  // timeDeltas[i] is the time before sample i: sample i lasted until sample i + 1.
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0
    const id = profile.samples[i] as number
    selfById.set(id, (selfById.get(id) ?? 0) + us)
    total += us
  }
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let idle = 0
  for (const [id, us] of selfById) {
    const node = byId.get(id)
    if (!node) continue
    const name = nameOf(node)
    if (node.callFrame.functionName === IDLE) {
      idle += us
      continue
    }
    self.set(name, (self.get(name) ?? 0) + us)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)
      if (!frame || frame.callFrame.functionName === '(root)') continue
      const key = nameOf(frame)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + us)
    }
  }
  const busy = total - idle
  const sorted = (m: Map<string, number>): FunctionTime[] =>
    [...m]
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }))
      .sort((a, b) => b.ms - a.ms)
  return { totalMs: total / 1000, busyMs: busy / 1000, self: sorted(self), inclusive: sorted(inclusive) }
}

const main = (args: readonly string[]): void => {
  const [file, topArg] = args.filter((a) => !a.startsWith('--'))
  if (!file) {
    console.error('usage: profileSummary.ts <file.cpuprofile> [top=30] [--inclusive]')
    process.exit(2)
  }
  const top = Number(topArg ?? 30)
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile)
  console.log(`${file}: ${summary.totalMs.toFixed(0)} ms profiled, busy ${summary.busyMs.toFixed(0)} ms`)
  const print = (title: string, rows: readonly FunctionTime[]) => {
    console.log(title)
    for (const r of rows.slice(0, top))
      console.log(`${(100 * r.share).toFixed(1).padStart(6)}% ${r.ms.toFixed(1).padStart(8)} ms  ${r.name}`)
  }
  print('self time (share of busy):', summary.self)
  if (args.includes('--inclusive')) print('inclusive time (share of busy):', summary.inclusive)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '')))
  main(process.argv.slice(2))
