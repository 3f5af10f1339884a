/**
 * Starts bench/workspace/hocuspocusServer.ts (Hocuspocus with an in-memory store) as a child process, as
 * bench/server/ServerProcess.ts starts its servers (killed by its `killAllChildren`), and resolves once it listens.
 */
import { listeningPort } from './listeningPort.js'
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
  const port = await listeningPort(child, 'hocuspocus', timeoutMs)
  const pid = child.pid as number
  return { port, rssBytes: () => rssBytes(pid) }
}
