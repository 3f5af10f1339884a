import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CATALOGUE_COLLECTION, CloseCode, docId, purgeSeenMetaKey } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

const DAY = 24 * 60 * 60 * 1000
let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

/** A store holding workspace `team`: `gone` deleted (and seen deleted by the relay) two days ago, `live` not deleted, each with some text. */
const seededStore = async (): Promise<SqliteDocStore> => {
  const store = new SqliteDocStore({ path: ':memory:' })
  const catalogue = new Y.Doc()
  const documents = catalogue.getMap(CATALOGUE_COLLECTION)
  const gone = new Y.Map<unknown>()
  gone.set('deleted', true)
  gone.set('deletedAt', Date.now() - 2 * DAY)
  documents.set('gone', gone)
  documents.set('live', new Y.Map<unknown>())
  await store.append(docId('team/.catalogue'), Y.encodeStateAsUpdate(catalogue))
  // The relay saw the deletion two days ago (WS-PURGE-1: the retention counts from then).
  await store.setMeta(docId('team/.catalogue'), purgeSeenMetaKey('gone'), String(Date.now() - 2 * DAY))
  for (const id of ['gone', 'live']) {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, `text of ${id}`)
    await store.append(docId(`team/${id}`), Y.encodeStateAsUpdate(doc))
  }
  return store
}

const refusedFor =
  (doc: string) =>
  (f: WorkspaceFrame): boolean =>
    f.kind === 'refused' && f.doc === doc

describe('the workspace endpoint and deleted documents', () => {
  it('WS-PURGE-4, WS-PURGE-5: a document past the retention is purged at start and refused at SUBSCRIBE (Forbidden); the others are served', async () => {
    srv = await startTestServer({ store: await seededStore(), workspaceRetention: DAY })
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(ws)
    ws.subscribe('gone').getText('t').insert(0, 'written back by a replica that kept it offline')
    const refused = await ws.next(refusedFor('gone'))
    expect(refused.frame).toMatchObject({ code: CloseCode.Forbidden, reason: 'document deleted' })
    ws.subscribe('live')
    await ws.text('live', 'text of live')
    expect(ws.ws.readyState).toBe(ws.ws.OPEN)
    const ids = await srv.store.list()
    expect(ids).toContain('team/live')
    expect(ids).not.toContain('team/gone')
  })

  it('WS-PURGE-1: with workspaceRetention false the relay keeps deleted documents and serves them', async () => {
    srv = await startTestServer({ store: await seededStore(), workspaceRetention: false })
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(ws)
    ws.subscribe('gone')
    await ws.text('gone', 'text of gone')
    expect(await srv.store.list()).toContain('team/gone')
  })
})
