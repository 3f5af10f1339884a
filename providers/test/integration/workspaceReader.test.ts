import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WebSocket } from 'ws'
import { CATALOGUE_COLLECTION } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, openWorkspace, WebSocketTransport, WorkspaceSocket } from '../../src/index.js'
import { startWeftServer, type WeftServer } from './support/weftServer.js'

const SECRET = 'a test secret that is at least 32 bytes long'

/** An HS256 JWT as `weft serve --auth-secret` verifies it (node:crypto: providers do not depend on a JWT library). */
const jwt = (rooms: Record<string, 'read' | 'write'>): string => {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ rooms, exp: Math.floor(Date.now() / 1000) + 600 })}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

let server: WeftServer
beforeAll(async () => {
  server = await startWeftServer({ authSecret: SECRET })
})
afterAll(async () => {
  await server?.stop()
})

describe('a read-only workspace user (review R1 #3)', () => {
  it('WS-CLIENT-1.8: a reader of a catalogue without schema marks (written by a stock client) writes nothing and reaches synced', async () => {
    // A stock writer (no schema marks) creates record A in team/.catalogue.
    const writer = await openDoc({
      docId: 'team/.catalogue',
      relay: new WebSocketTransport({
        url: server.relayUrl,
        room: 'team/.catalogue',
        WebSocketPolyfill: WebSocket,
        token: jwt({ 'team/*': 'write' }),
      }),
    })
    await writer.whenSynced
    writer.doc.transact(() => {
      const record = new Y.Map<unknown>()
      writer.doc.getMap(CATALOGUE_COLLECTION).set('A', record)
      record.set('title', 'A')
      record.set('createdAt', 1)
      record.set('updatedAt', 1)
      record.set('size', 0)
      record.set('deleted', false)
    })
    await writer.whenSaved()
    await writer.destroy()

    const store = new MemoryDocStore()
    const reader = await openWorkspace({
      id: 'team',
      store,
      relay: new WorkspaceSocket({
        url: server.relayUrl.replace(/\/relay$/, ''),
        workspace: 'team',
        store,
        WebSocketPolyfill: WebSocket,
        token: jwt({ 'team/*': 'read' }),
      }),
    })
    // Synced, or a change it holds and can never send (before: the schema stamp, pendingChanges 1 for good).
    const outcome = new Promise<{ status: string; pendingChanges: number }>((resolve) => {
      reader.on('status', (s) => {
        if (s.status === 'synced' || s.pendingChanges > 0) resolve(s)
      })
    })
    await reader.catalogue.whenSynced
    expect(reader.list.entries.map((e) => e.id)).toEqual(['A'])
    expect(await outcome).toMatchObject({ status: 'synced', pendingChanges: 0 })
    const local = Y.decodeStateVector(Y.encodeStateVector(reader.catalogue.doc))
    expect(local.has(reader.catalogue.doc.clientID)).toBe(false)
    await reader.destroy()
  })
})
