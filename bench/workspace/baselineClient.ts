/**
 * Drives bench/workspace/baselineMain.ts (the y-websocket or Hocuspocus client, in its own process) against a
 * baseline server started by bench/server/ServerProcess.ts.
 */
import { createInterface } from 'node:readline'
import { spawnNode } from '../server/ServerProcess.js'

/** A running baseline client. */
export interface BaselineClient {
  call<T>(cmd: Record<string, unknown>): Promise<T>
  stop(): void
}

/** Starts the `kind` client against `url`, with the documents of `corpusFile` (see corpus.ts encodeBlobs). */
export const startBaselineClient = (
  kind: 'yws' | 'hocuspocus',
  url: string,
  corpusFile: string,
): BaselineClient => {
  const child = spawnNode(['--import', 'tsx', 'bench/workspace/baselineMain.ts', kind, url, corpusFile])
  const waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = []
  const errLines: string[] = []
  if (child.stderr)
    createInterface({ input: child.stderr }).on('line', (l) => {
      errLines.push(l)
      if (errLines.length > 20) errLines.shift()
    })
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed: { reply?: unknown; error?: string }
      try {
        parsed = JSON.parse(line) as { reply?: unknown; error?: string }
      } catch {
        return
      }
      const w = waiting.shift()
      if (!w) return
      if (parsed.error !== undefined) w.reject(new Error(`${kind}: ${parsed.error}\n${errLines.join('\n')}`))
      else w.resolve(parsed.reply)
    })
  child.once('exit', (code) => {
    for (const w of waiting.splice(0))
      w.reject(new Error(`${kind} client exited (${code}):\n${errLines.join('\n')}`))
  })
  // The child's first line says it reads commands; the calls wait for it, one at a time.
  let last: Promise<unknown> = new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  return {
    call: <T>(cmd: Record<string, unknown>) => {
      const next = last.then(
        () =>
          new Promise<T>((resolve, reject) => {
            waiting.push({ resolve: resolve as (v: unknown) => void, reject })
            child.stdin?.write(`${JSON.stringify(cmd)}\n`)
          }),
      )
      last = next.catch(() => undefined)
      return next
    },
    stop: () => {
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}
