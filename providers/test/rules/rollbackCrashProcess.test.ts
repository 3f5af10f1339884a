/**
 * RULES-5.11 and RULES-5.12 across a real crash (issue #16): a process writes a change that `weft serve --rules`
 * refuses and is killed (SIGKILL) after the refusal arrived and the change was stored, before any rollback. Reopened
 * over the same SQLite file, the next session's edits are saved at the relay when `whenSaved()` says so, the stored
 * refused change is rolled back, and the session after that is not refused again.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { openTyped } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { WebSocketTransport, openDoc, type WeftDoc } from '../../src/index.js'
import { spawnTsChild } from '../integration/support/tsChild.js'
import { startWeftServer } from '../integration/support/weftServer.js'
import { xCapBoard } from './support/xCapBoard.js'

const CHILD = fileURLToPath(new URL('./support/rollbackCrashChild.ts', import.meta.url))
const RULES = fileURLToPath(new URL('./support/xCapRules.mjs', import.meta.url))

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Runs the child until it says `refused`, then kills it (SIGKILL). Resolves with its client id. */
const refuseThenKill = async (url: string, path: string): Promise<number> => {
  const child = spawnTsChild(CHILD, [url, path])
  const said = await child.next<{ clientId: number }>()
  await child.kill()
  return said.clientId
}

const ids = (doc: WeftDoc) => openTyped(doc.doc, xCapBoard).root.shapes.ids().sort()

/** What the relay holds: a fresh reader's view once synced. */
const atRelay = async (url: string): Promise<string[]> => {
  const reader = await openDoc({
    docId: 'board',
    relay: new WebSocketTransport({ url, room: 'board', WebSocketPolyfill: WebSocket }),
  })
  await reader.whenSynced
  const out = ids(reader)
  await reader.destroy()
  return out
}

/** Opens `board` over `store`, inserts `edits` at once (before the handshake), and waits until they are saved. */
const editAndSave = async (url: string, store: SqliteDocStore, edits: string[]) => {
  const doc = await openDoc({
    docId: 'board',
    store,
    relay: new WebSocketTransport({ url, room: 'board', WebSocketPolyfill: WebSocket }),
  })
  const rejected: string[] = []
  doc.on('rejected', (e) => rejected.push(e.ruleId))
  const shapes = openTyped(doc.doc, xCapBoard).root.shapes
  for (const id of edits) shapes.insert({ x: 1 }, { id })
  await doc.whenSaved()
  return { doc, rejected }
}

describe(
  'a crash between a refusal and its rollback (SQLite, weft serve --rules)',
  { timeout: 60_000 },
  () => {
    it('RULES-5.11 RULES-5.12: after the restart, saved edits are at the relay, the refused change is rolled back, the next open is not refused', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'weft-rollback-crash-'))
      cleanups.push(() => rm(dir, { recursive: true, force: true }))
      const path = join(dir, 'client.db')
      const server = await startWeftServer({ rules: RULES })
      cleanups.push(() => server.stop())
      await refuseThenKill(server.relayUrl, path)

      const store = new SqliteDocStore({ path })
      cleanups.push(() => store.close())
      const second = await editAndSave(server.relayUrl, store, ['n1', 'n2'])
      // RULES-5.12: saved means at the relay.
      expect(await atRelay(server.relayUrl)).toEqual(['n1', 'n2'])
      expect(second.rejected).toEqual(['shapes.x.max'])
      // RULES-5.11: the stored refused change is gone here too.
      expect(ids(second.doc)).toEqual(['n1', 'n2'])
      await second.doc.destroy()

      const third = await editAndSave(server.relayUrl, store, ['n3'])
      expect(third.rejected).toEqual([])
      expect(await atRelay(server.relayUrl)).toEqual(['n1', 'n2', 'n3'])
      expect(ids(third.doc)).toEqual(['n1', 'n2', 'n3'])
      await third.doc.destroy()
    })
  },
)
