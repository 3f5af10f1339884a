/**
 * Entry point of a client process: runs one scenario against one server and prints one JSON line
 * `{"type":"result","result":...}` (or `{"type":"error","message":...}`) on stdout. Started by runClient.ts
 * without `--conditions=source`, so Hocuspocus resolves to its built files; clients live here, not in the benchmark
 * process, so their CPU never counts as the server's.
 */
import type { ServerBenchSizes, Scenario } from './config.js'
import { prepareClients, type Target } from './connectClient.js'
import { fanOut } from './scenarios/fanOut.js'
import { historyJoin } from './scenarios/historyJoin.js'
import { idleConnections } from './scenarios/idleConnections.js'
import { joinStorm } from './scenarios/joinStorm.js'
import { presence } from './scenarios/presence.js'

/** What the benchmark asks a client process to do. */
export interface ClientJob {
  readonly scenario: Scenario
  readonly target: Target
  readonly serverPid: number
  readonly sizes: ServerBenchSizes
}

const run = async (job: ClientJob): Promise<unknown> => {
  await prepareClients(job.target)
  switch (job.scenario) {
    case 'fanout':
      return fanOut(job.target, job.serverPid, job.sizes.fanOut)
    case 'fanout-light':
      return fanOut(job.target, job.serverPid, job.sizes.fanOutLight)
    case 'idle':
      return idleConnections(job.target, job.serverPid, job.sizes.idle)
    case 'history':
      return historyJoin(job.target, job.sizes.history)
    case 'storm':
      return joinStorm(job.target, job.serverPid, job.sizes.storm)
    case 'presence':
    case 'presence-echo':
      return presence(job.target, job.serverPid, job.sizes.presence, job.scenario === 'presence-echo')
  }
}

const out = (line: unknown) =>
  new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(line)}\n`, () => resolve()))

// Every y-websocket provider adds a process 'exit' listener; hundreds of clients are intended here.
process.setMaxListeners(0)

try {
  const job = JSON.parse(process.argv[2] ?? '') as ClientJob
  const started = process.cpuUsage()
  const result = await run(job)
  const cpu = process.cpuUsage(started)
  await out({ type: 'result', result, clientCpuSeconds: (cpu.user + cpu.system) / 1e6 })
  process.exit(0)
} catch (err) {
  await out({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exit(1)
}
