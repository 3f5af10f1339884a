/**
 * Starts bench/workspace/hocuspocusServer.ts (Hocuspocus with an in-memory store) as a child process, as
 * bench/server/ServerProcess.ts starts its servers (killed by its `killAllChildren`), and resolves once it listens.
 */
import { createInterface } from 'node:readline'
import { spawnNode } from '../server/ServerProcess.js'
import { rssBytes } from '../server/procStats.js'

/** A running Hocuspocus of the workspace benchmark. */
export interface HocuspocusProcess {
  readonly port: number
  /** Its resident set size now, in bytes. */
  rssBytes(): number
}

/** Starts the server and resolves once it listens (rejects if it exits first or after `timeoutMs`). */
export const startHocuspocus = async (timeoutMs = 30_000): Promise<HocuspocusProcess> => {
  const child = spawnNode(['--import', 'tsx', 'bench/workspace/hocuspocusServer.ts'])
  const lines: string[] = []
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (l) => lines.push(l))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`hocuspocus did not start in ${timeoutMs} ms`)),
      timeoutMs,
    )
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`hocuspocus exited (${code}) before listening:\n${lines.join('\n')}`))
    })
    if (!child.stdout) return reject(new Error('no stdout'))
    // Read stdout for the child's whole life, so that its logging never blocks on a full pipe.
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
  const pid = child.pid as number
  return { port, rssBytes: () => rssBytes(pid) }
}
