import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { exited } from './weftServer.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/** A TypeScript test child process (run from the sources with tsx), spoken to over IPC. */
export interface TsChild {
  readonly process: ChildProcess
  /** The child's next IPC message (rejects if it exits first). */
  next<T>(): Promise<T>
  /** Sends `message` and resolves with the child's next IPC message. */
  call<T>(message: object): Promise<T>
  /** Kills the child with SIGKILL (no close, no destroy: a crash) and waits for its exit. */
  kill(): Promise<void>
}

/** Spawns `script` (a .ts file) with `args` in a Node child process with an IPC channel; stdout/stderr inherited. */
export const spawnTsChild = (script: string, args: readonly string[]): TsChild => {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const next = <T>(): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`child exited with ${code}`))
      child.once('message', (m) => {
        child.off('exit', onExit)
        resolve(m as T)
      })
      child.once('exit', onExit)
    })
  return {
    process: child,
    next,
    call: <T>(message: object): Promise<T> => {
      const reply = next<T>()
      child.send(message)
      return reply
    },
    kill: async () => {
      child.kill('SIGKILL')
      await exited(child)
    },
  }
}
