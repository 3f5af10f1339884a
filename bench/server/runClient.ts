/** Runs one scenario in a client process (clientMain.ts) and resolves with its result. */
import { createInterface } from 'node:readline'
import type { ClientJob } from './clientMain.js'
import { spawnNode } from './ServerProcess.js'

/** A client process's answer. */
export interface ClientOutcome<T> {
  readonly result: T
  readonly clientCpuSeconds: number
}

/** Starts the client process for `job` and waits (at most `timeoutMs`) for its result line. */
export const runClient = async <T>(job: ClientJob, timeoutMs: number): Promise<ClientOutcome<T>> => {
  const child = spawnNode([
    '--max-old-space-size=8192',
    '--import',
    'tsx',
    'bench/server/clientMain.ts',
    JSON.stringify(job),
  ])
  const stderr: string[] = []
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line)
      if (stderr.length > 30) stderr.shift()
    })
  }
  try {
    return await new Promise<ClientOutcome<T>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${job.scenario} on ${job.target.kind}: no result in ${timeoutMs} ms`)),
        timeoutMs,
      )
      let answered = false
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (!answered) {
          reject(new Error(`client exited (${code ?? signal}) without a result:\n${stderr.join('\n')}`))
        }
      })
      if (!child.stdout) return reject(new Error('no stdout'))
      createInterface({ input: child.stdout }).on('line', (line) => {
        let msg: { type?: string; result?: T; clientCpuSeconds?: number; message?: string }
        try {
          msg = JSON.parse(line) as typeof msg
        } catch {
          return
        }
        if (msg.type === 'result' && msg.result !== undefined) {
          answered = true
          clearTimeout(timer)
          resolve({ result: msg.result, clientCpuSeconds: msg.clientCpuSeconds ?? Number.NaN })
        } else if (msg.type === 'error') {
          answered = true
          clearTimeout(timer)
          reject(
            new Error(
              `${job.scenario} on ${job.target.kind}: ${msg.message ?? 'failed'}\n${stderr.join('\n')}`,
            ),
          )
        }
      })
    })
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}
