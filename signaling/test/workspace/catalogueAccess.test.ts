import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  CATALOGUE_SCHEMA_MARK,
  CloseCode,
  catalogueTombstones,
  docId,
  writeDeletion,
} from '@weft/core'
import { encodeEpochRecord, startEpoch } from '@weft/core/epochs'
import { RESERVED_RULE } from '@weft/core/rules'
import {
  Feature,
  decodeMessage,
  encodeEpochOffer,
  encodeRolledBack,
  encodeSyncUpdate,
} from '@weft/core/protocol'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { memoryRelaySocketPair } from '../../src/relay/MemoryRelaySocket.js'
import { CATALOGUE_ACCESS_RULE } from '../../src/workspace/catalogueGuard.js'
import {
  decodedAll,
  nextOf,
  sendStep1,
  startMemoryRelay,
  weftHello,
  type MemoryRelay,
} from '../relay/unit/memoryRelay.js'

const ROOM = 'W/.catalogue'
/** Mallory's grant in the p2 probe: every document of W, but only read on W/secret. */
const MALLORY = { 'W/*': 'write', 'W/secret': 'read' } as const
/** A writer of W/a only (and of the catalogue). */
const ALICE = { 'W/a': 'write', 'W/.catalogue': 'write' } as const
const OWNER = { 'W/*': 'write' } as const

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn()
})

const relay = (setup: Parameters<typeof startMemoryRelay>[0] = {}): MemoryRelay => {
  const r = startMemoryRelay(setup)
  cleanups.push(() => r.close())
  return r
}

let ids = 0
/** A connection to the catalogue room with a grant of `rooms`. */
const connect = (r: MemoryRelay, rooms: Readonly<Record<string, 'read' | 'write'>>): MemoryRelayClient => {
  const { relay: socket, client } = memoryRelaySocketPair()
  const grant = new RoomGrant(rooms, undefined, `user-${++ids}`, {})
  r.hub.accept(socket, ROOM, 'write', {
    id: ids,
    room: ROOM,
    access: 'write',
    grant,
    subject: grant.subject,
    clientAddress: '',
  })
  return client
}

/**
 * A catalogue writer: a Y.Doc whose changes it sends as updates, numbered with a Weft hello announcing `rollback`
 * (unless `stock`: no hello, no numbers).
 */
class CatalogueWriter {
  readonly doc = new Y.Doc()
  readonly client: MemoryRelayClient
  readonly #stock: boolean
  #seq = 0
  #sent: Uint8Array = new Uint8Array([0])

  constructor(client: MemoryRelayClient, stock = false) {
    this.client = client
    this.#stock = stock
    sendStep1(
      client,
      this.doc,
      stock ? null : weftHello({ features: Feature.Ack | Feature.Chunk | Feature.Rollback }),
    )
  }

  /** Waits for the relay's answer and applies what it sent (the room's state). */
  async synced(): Promise<void> {
    await nextOf(this.client, 'sync-step2')
    for (const m of decodedAll(this.client))
      if (m.type === 'sync-step2' || m.type === 'sync-update') Y.applyUpdate(this.doc, m.update)
    this.#sent = Y.encodeStateVector(this.doc)
  }

  get records(): Y.Map<Y.Map<unknown>> {
    return this.doc.getMap(CATALOGUE_COLLECTION)
  }

  /** Runs `change` on the document and sends what it wrote as one update; returns its sequence number (0: stock). */
  write(change: (doc: Y.Doc) => void): number {
    this.doc.transact(() => change(this.doc))
    const update = Y.encodeStateAsUpdate(this.doc, this.#sent)
    this.#sent = Y.encodeStateVector(this.doc)
    const seq = this.#stock ? null : ++this.#seq
    this.client.send(encodeSyncUpdate(update, seq))
    return seq ?? 0
  }

  /** Creates record `id` (as `workspace.create` does: a nested map with the catalogue's fields). */
  create(id: string, title = id): number {
    return this.write((doc) => {
      const rec = new Y.Map<unknown>()
      doc.getMap(CATALOGUE_COLLECTION).set(id, rec)
      rec.set('id', id)
      rec.set('title', title)
      rec.set('createdAt', 1)
    })
  }

  /** Deletes record `id` (as `workspace.delete` does: the record's fields and this writer's deletion entry). */
  delete(id: string, at = 5): number {
    return this.write((doc) => {
      const rec = doc.getMap(CATALOGUE_COLLECTION).get(id) as Y.Map<unknown>
      rec.set('deleted', true)
      rec.set('deletedAt', at)
      writeDeletion(doc, id, at)
    })
  }
}

/** The room's catalogue as stored, once everything the relay accepted is durable. */
const storedCatalogue = async (r: MemoryRelay): Promise<Y.Doc> => {
  await r.hub.room(ROOM)?.whenDurable()
  const doc = new Y.Doc()
  const s = await r.store.load(docId(ROOM))
  if (s?.snapshot) Y.applyUpdateV2(doc, s.snapshot)
  for (const u of s?.updates ?? []) Y.applyUpdate(doc, u)
  return doc
}

/** A catalogue with records `secret` and `a`, written by the owner. */
const seeded = async (r: MemoryRelay): Promise<CatalogueWriter> => {
  const owner = new CatalogueWriter(connect(r, OWNER))
  await owner.synced()
  owner.create('secret')
  owner.create('a')
  await nextOf(owner.client, 'ack')
  await nextOf(owner.client, 'ack')
  return owner
}

/** A writer of `rooms`, synced with the seeded catalogue. */
const writer = async (r: MemoryRelay, rooms: Readonly<Record<string, 'read' | 'write'>>, stock = false) => {
  const w = new CatalogueWriter(connect(r, rooms), stock)
  await w.synced()
  return w
}

describe('who may change which catalogue entry (WS-ACCESS)', () => {
  it('WS-ACCESS-1, WS-ACCESS-3: a stock writer without write on W/secret that marks it deleted is closed UpdateRejected; nothing is stored or forwarded', async () => {
    const r = relay()
    const owner = await seeded(r)
    const mallory = await writer(r, MALLORY, true)
    const before = owner.client.received.length
    mallory.write((doc) => {
      const rec = new Y.Map<unknown>()
      doc.getMap(CATALOGUE_COLLECTION).set('secret', rec)
      rec.set('id', 'secret')
      rec.set('deleted', true)
      rec.set('deletedAt', 0)
    })
    expect(await mallory.client.closed).toMatchObject({
      code: CloseCode.UpdateRejected,
      reason: `${CATALOGUE_ACCESS_RULE}: no write access to document "secret"`,
    })
    const stored = await storedCatalogue(r)
    expect(catalogueTombstones(stored)).toEqual([])
    expect(stored.getMap(CATALOGUE_COLLECTION).has('secret')).toBe(true)
    // The owner got nothing of it (its connection is the room's other member).
    expect(owner.client.received.length).toBe(before)
  })

  it('WS-ACCESS-1: a deletion entry naming W/secret alone is refused too (WS-PURGE-10: any entry deletes for good)', async () => {
    const r = relay()
    await seeded(r)
    const mallory = await writer(r, MALLORY, true)
    mallory.write((doc) => doc.getMap(CATALOGUE_DELETIONS).set('secret~12345', 0))
    expect((await mallory.client.closed).code).toBe(CloseCode.UpdateRejected)
    expect(catalogueTombstones(await storedCatalogue(r))).toEqual([])
  })

  it('WS-ACCESS-1: a change nested in a record (its title) needs write on that document; the same writer may change the others', async () => {
    const r = relay()
    await seeded(r)
    const mallory = await writer(r, MALLORY, true)
    mallory.write(() => mallory.records.get('a')?.set('title', 'renamed by mallory'))
    await r.hub.room(ROOM)?.whenDurable()
    expect((await storedCatalogue(r)).getMap(CATALOGUE_COLLECTION).get('a')).toBeInstanceOf(Y.Map)
    expect(
      ((await storedCatalogue(r)).getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).get('title'),
    ).toBe('renamed by mallory')
    mallory.write(() => mallory.records.get('secret')?.set('title', 'mine now'))
    expect((await mallory.client.closed).code).toBe(CloseCode.UpdateRejected)
    const secret = (await storedCatalogue(r)).getMap(CATALOGUE_COLLECTION).get('secret') as Y.Map<unknown>
    expect(secret.get('title')).toBe('secret')
  })

  it('WS-ACCESS-2: a writer of W/a may create, rename and delete W/a', async () => {
    const r = relay()
    const owner = await seeded(r)
    const alice = await writer(r, ALICE)
    alice.create('a2-is-not-hers') // refused: creating another document's record
    expect(await nextOf(alice.client, 'rejected')).toMatchObject({ ruleId: CATALOGUE_ACCESS_RULE })
    const fresh = await writer(r, ALICE)
    fresh.write(() => fresh.records.get('a')?.set('title', 'renamed'))
    fresh.delete('a', 42)
    await nextOf(fresh.client, 'ack')
    await nextOf(fresh.client, 'ack')
    expect(fresh.client.closeInfo).toBeNull()
    const stored = await storedCatalogue(r)
    expect(catalogueTombstones(stored)).toEqual([{ doc: 'a', deletedAt: 42 }])
    expect((stored.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).get('title')).toBe('renamed')
    expect(stored.getMap(CATALOGUE_COLLECTION).has('a2-is-not-hers')).toBe(false)
    // Creating a record of her own document on a fresh catalogue works too.
    const r2 = relay()
    const creator = await writer(r2, ALICE)
    creator.create('a')
    await nextOf(creator.client, 'ack')
    expect((await storedCatalogue(r2)).getMap(CATALOGUE_COLLECTION).has('a')).toBe(true)
    expect(owner.client.closeInfo).toBeNull()
  })

  it('WS-ACCESS-4: once built, the view stays in step with the updates of writers of every document: a record the owner creates later is one its writer may then rename', async () => {
    const r = relay()
    const owner = await seeded(r)
    const alice = await writer(r, { ...ALICE, 'W/b': 'write' })
    // Her first update builds the view.
    alice.write(() => alice.records.get('a')?.set('title', 'first'))
    await nextOf(alice.client, 'ack')
    owner.create('b')
    await nextOf(alice.client, 'sync-update')
    for (const m of alice.client.received.map((x) => decodeMessage(x)))
      if (m.type === 'sync-update') Y.applyUpdate(alice.doc, m.update)
    // Nested in the owner's new record: allowed only if the view holds that record (else it would stay pending).
    const seq = alice.write(() => alice.records.get('b')?.set('title', 'renamed by alice'))
    await alice.client.next((m) => ackOf(m) === seq)
    expect(alice.client.received.some((m) => decodeMessage(m).type === 'rejected')).toBe(false)
    const stored = await storedCatalogue(r)
    expect((stored.getMap(CATALOGUE_COLLECTION).get('b') as Y.Map<unknown>).get('title')).toBe(
      'renamed by alice',
    )
  })

  it('WS-ACCESS-1: a writer with write on W/* deletes any document', async () => {
    const r = relay()
    const owner = await seeded(r)
    owner.delete('secret', 7)
    await nextOf(owner.client, 'ack')
    expect(catalogueTombstones(await storedCatalogue(r))).toEqual([{ doc: 'secret', deletedAt: 7 }])
  })

  it('WS-ACCESS-3: a Weft writer that announced rollback is told (rejected), stays connected, is fenced until it rolled back, then writes what it may', async () => {
    const r = relay()
    await seeded(r)
    const mallory = await writer(r, MALLORY)
    const seq = mallory.delete('secret')
    expect(await nextOf(mallory.client, 'rejected')).toEqual({
      type: 'rejected',
      seq,
      ruleId: CATALOGUE_ACCESS_RULE,
      path: `${CATALOGUE_COLLECTION}/secret`,
      reason: 'no write access to document "secret"',
    })
    // Sent before it knew: refused behind the fence, without a second `rejected` (RULES-5.1), and acknowledged.
    const behind = mallory.write(() => mallory.records.get('a')?.set('title', 'behind the fence'))
    await mallory.client.next((m) => (ackOf(m) ?? 0) >= behind)
    expect(mallory.client.closeInfo).toBeNull()
    // Rolled back (a fresh client id): its change of W/a is accepted.
    mallory.client.send(encodeRolledBack(4242))
    const other = new Y.Doc()
    other.clientID = 4242
    Y.applyUpdate(other, Y.encodeStateAsUpdate(await storedCatalogue(r)))
    const before = Y.encodeStateVector(other)
    ;(other.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).set('title', 'after the rollback')
    const after = mallory.client.received.length
    mallory.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(other, before), 99))
    await mallory.client.next((m) => ackOf(m) === 99)
    const rejectedSince = mallory.client.received
      .slice(after)
      .filter((m) => decodeMessage(m).type === 'rejected')
    expect(rejectedSince).toEqual([])
    const stored = await storedCatalogue(r)
    expect((stored.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).get('title')).toBe(
      'after the rollback',
    )
    expect(catalogueTombstones(stored)).toEqual([])
  })

  it('WS-ACCESS-1: an update of a partially granted writer that stays pending (it depends on items the relay lacks) is refused', async () => {
    const r = relay()
    await seeded(r)
    const mallory = await writer(r, MALLORY, true)
    // Items of a client whose first clocks the relay never got: Yjs would keep them pending, to land anywhere later.
    const ghost = new Y.Doc()
    ghost.clientID = 777
    ghost.getMap('scratch').set('x', 1)
    const sv = Y.encodeStateVector(ghost)
    ghost.getMap(CATALOGUE_COLLECTION).set('b', new Y.Map())
    mallory.client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(ghost, sv)))
    expect(await mallory.client.closed).toMatchObject({ code: CloseCode.UpdateRejected })
    expect((await storedCatalogue(r)).getMap(CATALOGUE_COLLECTION).has('b')).toBe(false)
  })

  it("WS-ACCESS-1: a writer's epoch offer to a catalogue is ignored: its initial state (a tombstone of W/secret) never becomes the room's", async () => {
    const r = relay()
    await seeded(r)
    const mallory = await writer(r, MALLORY)
    // A catalogue of her own making: secret deleted, the other records left out.
    const forged = new Y.Doc()
    forged.clientID = 666
    const rec = new Y.Map<unknown>()
    forged.getMap(CATALOGUE_COLLECTION).set('secret', rec)
    rec.set('deleted', true)
    writeDeletion(forged, 'secret', 0)
    const { record } = startEpoch(forged)
    mallory.client.send(encodeEpochOffer(encodeEpochRecord(record), Y.encodeStateAsUpdate(forged)))
    // An update after the offer: once acknowledged, the offer was handled and any switch it started was queued.
    const after = mallory.write(() => mallory.records.get('a')?.set('title', 'after the offer'))
    await mallory.client.next((m) => ackOf(m) === after)
    await r.hub.epochs.settled()
    expect(r.hub.room(ROOM)?.epoch.id).toBe('0')
    const stored = await storedCatalogue(r)
    expect(catalogueTombstones(stored)).toEqual([])
    expect([...stored.getMap(CATALOGUE_COLLECTION).keys()].sort()).toEqual(['a', 'secret'])
  })

  it('WS-ACCESS-1: rooms that are not a catalogue are not checked', async () => {
    const r = relay()
    const { relay: socket, client } = memoryRelaySocketPair()
    const grant = new RoomGrant(MALLORY)
    r.hub.accept(socket, 'W/notes', 'write', {
      id: 1,
      room: 'W/notes',
      access: 'write',
      grant,
      subject: undefined,
      clientAddress: '',
    })
    const w = new CatalogueWriter(client)
    await w.synced()
    w.write((doc) => writeDeletion(doc, 'secret', 1))
    await nextOf(client, 'ack')
    expect(client.closeInfo).toBeNull()
  })
})

/** The sequence number an ack message acknowledges, or null for any other message. */
const ackOf = (m: Uint8Array): number | null => {
  const message = decodeMessage(m)
  return message.type === 'ack' ? message.seq : null
}

describe('RoomGrant.writesAll (WS-ACCESS-1)', () => {
  it('WS-ACCESS-1: write on every room under a prefix, unless a more specific key gives less', () => {
    expect(new RoomGrant({ 'W/*': 'write' }).writesAll('W/')).toBe(true)
    expect(new RoomGrant({ '*': 'write' }).writesAll('W/')).toBe(true)
    expect(new RoomGrant({ 'W*': 'write', 'W/*': 'write' }).writesAll('W/')).toBe(true)
    expect(new RoomGrant(MALLORY).writesAll('W/')).toBe(false)
    expect(new RoomGrant({ 'W/*': 'write', 'W/s*': 'read' }).writesAll('W/')).toBe(false)
    expect(new RoomGrant({ '*': 'write', 'W/*': 'read' }).writesAll('W/')).toBe(false)
    expect(new RoomGrant(ALICE).writesAll('W/')).toBe(false)
    expect(new RoomGrant({ 'W/*': 'write', 'X/secret': 'read' }).writesAll('W/')).toBe(true)
    expect(new RoomGrant({}).writesAll('W/')).toBe(false)
  })
})

describe('the catalogue’s own types (WS-ACCESS-6)', () => {
  it('WS-ACCESS-6: a writer of one document that marks the catalogue v:99 (locking it for every client) is refused; nothing is stored', async () => {
    const r = relay()
    await seeded(r)
    const alice = await writer(r, ALICE, true)
    alice.write((doc) => doc.getMap('__weft').set('v:99', true))
    expect(await alice.client.closed).toMatchObject({ code: CloseCode.UpdateRejected })
    expect((await storedCatalogue(r)).getMap('__weft').has('v:99')).toBe(false)
    // So is a forged migration mark, another schema name, or another `__weft*` type, for a Weft writer too.
    for (const forge of [
      (d: Y.Doc) => d.getMap('__weft').set('m:weft-catalogue/2', true),
      (d: Y.Doc) => d.getMap('__weft').set('name', 'other'),
      (d: Y.Doc) => d.getMap('__weft.x').set('a', 1),
    ]) {
      const w = await writer(r, ALICE)
      w.write(forge)
      expect(await nextOf(w.client, 'rejected')).toMatchObject({ ruleId: RESERVED_RULE })
    }
    const stored = (await storedCatalogue(r)).getMap('__weft')
    expect([...stored.keys()]).toEqual([])
  })

  it('WS-ACCESS-6: the marks an honest catalogue writes (its schema name and version) are accepted from a writer of one document', async () => {
    const r = relay()
    await seeded(r)
    const alice = await writer(r, ALICE)
    alice.write((doc) => {
      doc.getMap('__weft').set('name', CATALOGUE_SCHEMA_MARK.name)
      doc.getMap('__weft').set(`v:${CATALOGUE_SCHEMA_MARK.version}`, true)
    })
    await nextOf(alice.client, 'ack')
    expect(alice.client.received.some((m) => decodeMessage(m).type === 'rejected')).toBe(false)
    expect((await storedCatalogue(r)).getMap('__weft').toJSON()).toEqual({
      name: 'weft-catalogue',
      'v:1': true,
    })
  })
})

/** The writer's answer to update `seq`: 'ack', or the rejection's reason. */
const answerTo = async (w: CatalogueWriter, seq: number): Promise<string> => {
  const m = decodeMessage(
    await w.client.next((x) => ackOf(x) === seq || decodeMessage(x).type === 'rejected'),
  )
  return m.type === 'rejected' ? m.reason : 'ack'
}

describe('a writer of some documents cannot fill or deface the catalogue (review R1, WS-ACCESS-7 to 9)', () => {
  it('WS-ACCESS-7: the fill probe: a writer of W/a writing under a root of its own (no document, so no grant was checked) is refused; nothing is stored', async () => {
    const r = relay()
    await seeded(r)
    const alice = await writer(r, ALICE)
    const seq = alice.write((doc) => doc.getMap('zzz').set('k0', 'J'.repeat(1000)))
    expect(await answerTo(alice, seq)).toMatch(/only the catalogue's entries may be written: "zzz"/)
    expect((await storedCatalogue(r)).share.has('zzz')).toBe(false)
    // Nor under a root a full writer made: a partial writer neither adds to it nor deletes from it.
    const r2 = relay()
    const owner = await seeded(r2)
    owner.write((doc) => doc.getMap('zzz').set('k', 1))
    await owner.client.next((m) => ackOf(m) === 3)
    for (const change of [
      (d: Y.Doc) => d.getMap('zzz').set('k2', 2),
      (d: Y.Doc) => d.getMap('zzz').delete('k'),
    ]) {
      const w = await writer(r2, ALICE)
      expect(await answerTo(w, w.write(change))).toMatch(/only the catalogue's entries/)
    }
    // A writer of every document is not limited to the entries.
    expect((await storedCatalogue(r2)).getMap('zzz').toJSON()).toEqual({ k: 1 })
  })

  it('WS-ACCESS-8: a writer of W/a cannot grow its own entry past the cap (one field, or field after field); the owner still writes; the cap is an option', async () => {
    const r = relay({ limits: { maxDocBytes: 256 * 1024 } })
    const owner = await seeded(r)
    const alice = await writer(r, ALICE)
    const big = alice.write(() => alice.records.get('a')?.set('title', 'T'.repeat(70_000)))
    expect(await answerTo(alice, big)).toMatch(/the entry of document "a" would exceed 65536 bytes/)
    // Field after field (the fill probe's `title<i>`): refused once the entry would pass 64 KiB, never 4403.
    const fields = await writer(r, ALICE)
    const answers: string[] = []
    for (let i = 0; i < 10; i++) {
      const seq = fields.write(() => fields.records.get('a')?.set(`title${i}`, 'J'.repeat(10_000)))
      answers.push(await answerTo(fields, seq))
      if (answers[i] !== 'ack') break
    }
    expect(answers.slice(0, 6)).toEqual(Array(6).fill('ack'))
    expect(answers[6]).toMatch(/would exceed 65536 bytes/)
    // The workspace is not frozen: the owner creates and deletes (before: 4403 DocumentTooLarge, for good).
    const created = owner.create('c')
    await owner.client.next((m) => ackOf(m) === created)
    const deleted = owner.delete('secret')
    await owner.client.next((m) => ackOf(m) === deleted)
    expect(owner.client.closeInfo).toBeNull()
    // Writers of every document are not capped; the cap is ServerLimits.maxCatalogueEntryBytes.
    const own = owner.write(() => owner.records.get('c')?.set('title', 'O'.repeat(70_000)))
    await owner.client.next((m) => ackOf(m) === own)
    const roomy = relay({ limits: { maxCatalogueEntryBytes: 100_000 } })
    await seeded(roomy)
    const bob = await writer(roomy, ALICE)
    expect(
      await answerTo(
        bob,
        bob.write(() => bob.records.get('a')?.set('title', 'T'.repeat(70_000))),
      ),
    ).toBe('ack')
  })

  it('WS-ACCESS-9: a writer of some documents writes no entry under a key that is not a document id (.catalogue, A~epoch~0)', async () => {
    const r = relay()
    await seeded(r)
    const refusedChanges: Array<[Record<string, 'read' | 'write'>, (d: Y.Doc) => void]> = [
      [ALICE, (d) => d.getMap(CATALOGUE_COLLECTION).set('.catalogue', new Y.Map())],
      [ALICE, (d) => d.getMap(CATALOGUE_DELETIONS).set('.catalogue~1', 1)],
      [
        { 'W/a*': 'write', 'W/.catalogue': 'write' },
        (d) => d.getMap(CATALOGUE_COLLECTION).set('a~epoch~0', 1),
      ],
      [{ 'W/*': 'write', 'W/secret': 'read' }, (d) => d.getMap(CATALOGUE_COLLECTION).set('', 1)],
    ]
    for (const [rooms, change] of refusedChanges) {
      const w = await writer(r, rooms)
      expect(await answerTo(w, w.write(change))).toMatch(/is not a document id/)
    }
    const stored = await storedCatalogue(r)
    expect([...stored.getMap(CATALOGUE_COLLECTION).keys()].sort()).toEqual(['a', 'secret'])
    expect([...stored.getMap(CATALOGUE_DELETIONS).keys()]).toEqual([])
    // Its own document's deletion entry is still its to write.
    const alice = await writer(r, ALICE)
    expect(await answerTo(alice, alice.delete('a'))).toBe('ack')
  })
  it('WS-ACCESS-11: a writer of W/a sets no impossible value in its record (updatedAt 9e15, size -1, another id); honest values pass', async () => {
    const r = relay()
    await seeded(r)
    const record = (d: Y.Doc) => d.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>
    const forged: Array<(d: Y.Doc) => void> = [
      (d) => record(d).set('updatedAt', 9e15),
      (d) => record(d).set('size', -1),
      (d) => record(d).set('size', 1.5),
      (d) => record(d).set('createdAt', 'yesterday'),
      (d) => record(d).set('id', 'secret'),
      // In a record the same update creates (after deleting hers), too.
      (d) => {
        const fresh = new Y.Map<unknown>()
        d.getMap(CATALOGUE_COLLECTION).set('a', fresh)
        fresh.set('deletedAt', -5)
      },
    ]
    for (const change of forged) {
      const w = await writer(r, ALICE)
      expect(await answerTo(w, w.write(change))).toMatch(/impossible (updatedAt|size|createdAt|id|deletedAt)/)
    }
    const stored = record(await storedCatalogue(r))
    expect(stored.get('updatedAt')).toBeUndefined()
    expect(stored.get('id')).toBe('a')
    const alice = await writer(r, ALICE)
    const honest = alice.write((d) => {
      record(d).set('updatedAt', Date.now())
      record(d).set('size', 1234)
      record(d).set('color', 'any value of the app')
    })
    expect(await answerTo(alice, honest)).toBe('ack')
  })
})
