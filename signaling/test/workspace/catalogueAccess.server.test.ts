import { afterEach, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import { pino } from 'pino'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  CloseCode,
  SyncSession,
  catalogueTombstones,
  loadCatalogueTombstones,
  writeDeletion,
  type DocStore,
} from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { WorkspacePurger } from '../../src/workspace/WorkspacePurger.js'
import { CATALOGUE_ACCESS_RULE } from '../../src/workspace/catalogueGuard.js'
import { RelayTransport } from '../helpers/RelayTransport.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const token = (rooms: Record<string, string>, sub: string) =>
  new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(SECRET))

/** The p2 probe's grants: the owner writes all of W; Mallory too, except W/secret, which she may only read. */
const OWNER = { 'W/*': 'write' }
const MALLORY = { 'W/*': 'write', 'W/secret': 'read' }

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []
const stock: StockClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

/** A y-websocket sync update message (what a stock client sends for a local change). */
const syncUpdate = (update: Uint8Array): Uint8Array => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 0)
  syncProtocol.writeUpdate(enc, update)
  return encoding.toUint8Array(enc)
}

/** Opens `url`, sends `message` once open, and resolves with the close code and reason. */
const closeOf = (url: string, message: Uint8Array): Promise<[number, string]> =>
  new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('open', () => ws.send(message))
    ws.on('error', () => undefined)
    ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()]))
  })

/** Mallory's write of the p2 probe: a record `secret` that says it is deleted. */
const tombstoneOfSecret = (): Uint8Array => {
  const d = new Y.Doc()
  const rec = new Y.Map<unknown>()
  d.getMap(CATALOGUE_COLLECTION).set('secret', rec)
  rec.set('id', 'secret')
  rec.set('title', 'x')
  rec.set('deleted', true)
  rec.set('deletedAt', 0)
  return Y.encodeStateAsUpdate(d)
}

/** A purge sweep of `store` with no retention at all: every tombstone the catalogue holds is purged now. */
const sweepNow = async (store: DocStore) => {
  const purger = new WorkspacePurger({
    store,
    retention: 0,
    isLoaded: () => false,
    intervalMs: 3_600_000,
    logger: pino({ level: 'silent' }),
  })
  try {
    return await purger.sweep()
  } finally {
    await purger.close()
  }
}

/** The owner writes W/secret's text and the catalogue's record of it, through /relay. */
const ownerWritesSecret = async (s: TestServer): Promise<void> => {
  const owner = await token(OWNER, 'owner')
  const secret = stockClient(`${s.ws}/relay`, 'W/secret', { params: { token: owner } })
  stock.push(secret)
  await secret.synced()
  secret.doc.getText('t').insert(0, "the owner's secret")
  const catalogue = stockClient(`${s.ws}/relay`, 'W/.catalogue', { params: { token: owner } })
  stock.push(catalogue)
  await catalogue.synced()
  const rec = new Y.Map<unknown>()
  catalogue.doc.getMap(CATALOGUE_COLLECTION).set('secret', rec)
  rec.set('id', 'secret')
  rec.set('title', 'secret')
  // Both stored before Mallory comes: a second stock client of each room sees them.
  const check = stockClient(`${s.ws}/relay`, 'W/secret', { params: { token: owner } })
  stock.push(check)
  await textEquals(check.doc, "the owner's secret")
  const checkCatalogue = stockClient(`${s.ws}/relay`, 'W/.catalogue', { params: { token: owner } })
  stock.push(checkCatalogue)
  await checkCatalogue.synced()
  await new Promise<void>((resolve) => {
    const records = checkCatalogue.doc.getMap(CATALOGUE_COLLECTION)
    if (records.has('secret')) return resolve()
    records.observe(() => records.has('secret') && resolve())
  })
}

describe('catalogue access on a server with auth (WS-ACCESS, issue 15)', () => {
  it('WS-ACCESS-1, WS-ACCESS-3: the p2 probe: a reader of W/secret who writes W/* cannot get W/secret purged through /relay/W/.catalogue; the owner keeps syncing it', async () => {
    srv = await startTestServer({ auth: { secret: SECRET }, workspaceRetention: 0 })
    await ownerWritesSecret(srv)
    const mallory = await token(MALLORY, 'mallory')
    expect(
      await closeOf(`${srv.ws}/relay/W/secret?token=${mallory}`, syncUpdate(tombstoneOfSecret())),
    ).toEqual([CloseCode.ReadOnly, 'read-only connection sent an update'])
    expect(
      await closeOf(`${srv.ws}/relay/W/.catalogue?token=${mallory}`, syncUpdate(tombstoneOfSecret())),
    ).toEqual([CloseCode.UpdateRejected, `${CATALOGUE_ACCESS_RULE}: no write access to document "secret"`])

    // Nothing of it was stored: no tombstone, so no sweep purges W/secret, however short the retention.
    expect(await loadCatalogueTombstones(srv.store, 'W')).toEqual([])
    expect((await sweepNow(srv.store)).purged).toEqual([])
    const owner = await token(OWNER, 'owner')
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/W?token=${owner}`)
    clients.push(ws)
    ws.subscribe('secret')
    await ws.text('secret', "the owner's secret")
    expect(ws.frames.some((f) => f.frame.kind === 'refused')).toBe(false)
  })

  it('WS-ACCESS-1: a stock y-websocket client at /relay/W/.catalogue with a partial grant is refused (UpdateRejected, final)', async () => {
    srv = await startTestServer({ auth: { secret: SECRET } })
    await ownerWritesSecret(srv)
    const mallory = stockClient(`${srv.ws}/relay`, 'W/.catalogue', {
      params: { token: await token(MALLORY, 'mallory') },
    })
    stock.push(mallory)
    await mallory.synced()
    const closed = new Promise<number>((resolve) =>
      mallory.provider.on('connection-close', (event: CloseEvent | null) => resolve(event?.code ?? 0)),
    )
    const record = mallory.doc.getMap(CATALOGUE_COLLECTION).get('secret') as Y.Map<unknown>
    record.set('deleted', true)
    expect(await closed).toBe(CloseCode.UpdateRejected)
    mallory.provider.disconnect()
    expect(await loadCatalogueTombstones(srv.store, 'W')).toEqual([])
  })

  it('WS-ACCESS-1: the catalogue DOC frames of /workspace/W are checked the same way: REFUSED for the catalogue, the socket and its other documents go on', async () => {
    srv = await startTestServer({ auth: { secret: SECRET } })
    await ownerWritesSecret(srv)
    const ws = await WorkspaceTestClient.open(
      `${srv.ws}/workspace/W?token=${await token(MALLORY, 'mallory')}`,
    )
    clients.push(ws)
    ws.subscribe('.catalogue')
    const catalogue = await ws.synced('.catalogue')
    ;(catalogue.getMap(CATALOGUE_COLLECTION).get('secret') as Y.Map<unknown>).set('deleted', true)
    const refused = await ws.next((f: WorkspaceFrame) => f.kind === 'refused' && f.doc === '.catalogue')
    expect(refused.frame).toMatchObject({ code: CloseCode.UpdateRejected })
    expect(ws.ws.readyState).toBe(WebSocket.OPEN)
    // Her own document's record she may still write, on a new subscription.
    ws.subscribe('secret')
    await ws.text('secret', "the owner's secret")
    expect(await loadCatalogueTombstones(srv.store, 'W')).toEqual([])
  })

  it('WS-ACCESS-3: a Weft client (SyncSession with durable acks, so it announces rollback) that deletes a document it may only read is told (rejected, catalogue-access) and rolls the deletion back; it stays connected', async () => {
    srv = await startTestServer({ auth: { secret: SECRET } })
    await ownerWritesSecret(srv)
    const doc = new Y.Doc()
    const session = new SyncSession({ doc, durable: () => Promise.resolve() })
    const transport = new RelayTransport(
      `${srv.ws}/relay/W/.catalogue?token=${await token(MALLORY, 'mallory')}`,
    )
    session.addTransport(transport)
    try {
      await transport.connect()
      await session.whenSynced()
      const rejected = new Promise<{ ruleId: string; path: readonly string[] }>((resolve) =>
        session.on('rejected', (event) => resolve(event)),
      )
      // What workspace.delete('secret') writes (CatalogueDocuments.delete): the record's fields and a deletion entry.
      doc.transact(() => {
        const record = doc.getMap(CATALOGUE_COLLECTION).get('secret') as Y.Map<unknown>
        record.set('deleted', true)
        record.set('deletedAt', 1)
        writeDeletion(doc, 'secret', 1)
      })
      expect(catalogueTombstones(doc).map((t) => t.doc)).toEqual(['secret'])
      expect(await rejected).toMatchObject({ ruleId: CATALOGUE_ACCESS_RULE, path: ['documents', 'secret'] })
      // Rolled back: the replica reads W/secret as live again, and so does the relay.
      expect(catalogueTombstones(doc)).toEqual([])
      expect(doc.getMap(CATALOGUE_DELETIONS).size).toBe(0)
      expect(transport.closeCodes).toEqual([])
      expect(await loadCatalogueTombstones(srv.store, 'W')).toEqual([])
    } finally {
      session.destroy()
      transport.destroy()
    }
  })
})
