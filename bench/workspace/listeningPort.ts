import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * The port a server child process logs in its `{"msg":"listening","port":N}` JSON line (both `weft serve` and the
 * bench's Hocuspocus do). Reads stdout for the child's whole life, so its logging never blocks on a full pipe; rejects,
 * with the child's stderr, when it exits first or does not listen within `timeoutMs`.
 */
export const listeningPort = (child: ChildProcess, name: string, timeoutMs: number): Promise<number> => {
  const lines: string[] = []
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (l) => lines.push(l))
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${lines.join('\n')}`)),
      timeoutMs,
    )
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${code}) before listening:\n${lines.join('\n')}`))
    })
    if (!child.stdout) return reject(new Error('no stdout'))
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown }
        if (parsed.msg === 'listening' && typeof parsed.port === 'number') {
          clearTimeout(timer)
          resolve(parsed.port)
        }
      } catch {
        // not JSON
      }
    })
  })
}
