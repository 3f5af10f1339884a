import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'
import { DAY, seededWorkspaceStore as seededStore } from './seededWorkspace.js'

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

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
