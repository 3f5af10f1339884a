/**
 * The relay under test: `weft serve --data <dir>` (SQLite store), started as the docs show, in its own process,
 * on a data directory seeded beforehand with the workspace (so that 10,000 documents need not be pushed over the
 * network before every run). Seeding goes through the same `SqliteDocStore` the relay opens, so the workspace's
 * change sequence is the one the relay keeps.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listeningPort } from './listeningPort.js'
import { workspaceDocId, isWorkspaceIndexed, type DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { spawnExecutable } from '../server/ServerProcess.js'
import { rssBytes } from '../server/procStats.js'
import type { Corpus } from './corpus.js'

/** The relay's store file in its data directory (signaling/src/relay/openRelayStore.ts, RELAY_DB_FILE). */
const RELAY_DB_FILE = 'weft.sqlite'

/** Writes the catalogue and every document of `corpus` to `store`, as documents `W/D`. */
export const seedStore = async (
  store: DocStore,
  workspace: string,
  catalogue: Uint8Array,
  corpus: Corpus,
): Promise<void> => {
  await store.append(workspaceDocId(workspace, '.catalogue'), catalogue)
  const batch: Array<Promise<number>> = []
  for (let i = 0; i < corpus.ids.length; i++) {
    batch.push(
      store.append(workspaceDocId(workspace, corpus.ids[i] as string), corpus.updates[i] as Uint8Array),
    )
    if (batch.length >= 200) await Promise.all(batch.splice(0))
  }
  await Promise.all(batch)
}

/** A new relay data directory holding the workspace; returns it and the workspace's change sequence. */
export const seedRelayDir = async (
  workspace: string,
  catalogue: Uint8Array,
  corpus: Corpus,
): Promise<{ dir: string; seq: number }> => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-ws-bench-'))
  const store = new SqliteDocStore({ path: join(dir, RELAY_DB_FILE), durability: 'normal' })
  await seedStore(store, workspace, catalogue, corpus)
  const seq = isWorkspaceIndexed(store) ? await store.workspaceSeq(workspace) : 0
  await store.close()
  return { dir, seq }
}

/** A running `weft serve`. */
export interface RelayProcess {
  readonly pid: number
  readonly url: string
  rss(): number
  stop(): Promise<void>
}

/** Starts `weft serve --data dir` on 127.0.0.1, port 0; resolves once it listens. */
export const startRelay = async (dir: string): Promise<RelayProcess> => {
  const child = spawnExecutable('signaling/bin/weft.js', [
    'serve',
    ...['--host', '127.0.0.1', '--port', '0', '--data', dir],
  ])
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await listeningPort(child, 'weft serve', 60_000)
  const pid = child.pid as number
  return {
    pid,
    url: `ws://127.0.0.1:${port}`,
    rss: () => rssBytes(pid),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}
