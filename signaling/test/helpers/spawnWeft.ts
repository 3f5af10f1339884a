import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The repository root (where `npx weft` runs). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../bin/weft.js', import.meta.url))

/** A `weft` child process. */
export interface WeftProcess {
  readonly child: ChildProcess
  /** Parsed JSON log lines so far (stdout). */
  readonly logs: Array<Record<string, unknown>>
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>
  /** What the child wrote to stderr so far (all of it once {@link WeftProcess.closed} resolved). */
  readonly stderr: () => string
  /** Resolves when the child exited and its stdout and stderr are closed. */
  readonly closed: Promise<void>
}

/**
 * Runs `signaling/bin/weft.js <args>` from the repository root, as `npx weft` does: the file is executed, so its
 * shebang (and the Node flags there) applies.
 */
export const spawnWeft = (args: readonly string[], env: NodeJS.ProcessEnv = {}): WeftProcess => {
  const child = spawn(BIN, [...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        logs.push({ text: line })
      }
    }
    child.emit('log')
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== 0 && stderr) process.stderr.write(`weft stderr: ${stderr}\n`)
      resolve(code ?? signal ?? -1)
    }),
  )
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
  return { child, logs, exited, stderr: () => stderr, closed }
}

/** Resolves with the port once the child logged `listening`; rejects if it exits first. */
export const listening = (p: WeftProcess): Promise<number> =>
  new Promise((resolve, reject) => {
    const check = () => {
      const line = p.logs.find((l) => l['msg'] === 'listening')
      if (!line) return false
      p.child.off('log', check)
      resolve(line['port'] as number)
      return true
    }
    if (check()) return
    p.child.on('log', check)
    void p.exited.then((code) => reject(new Error(`weft exited with ${code} before listening`)))
  })
