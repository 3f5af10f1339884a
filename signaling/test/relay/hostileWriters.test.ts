import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { compactCommand, inspectCommand } from '../../src/cli/storeCommands.js'
import { quarantineId, screenStoredDoc } from '../../src/relay/quarantine.js'
import { GatedStore } from '../helpers/GatedStore.js'
import { maskedFrame, RawWsClient } from '../helpers/RawWsClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { TestClient } from '../helpers/TestClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'
import {
  deepNesting,
  deepValue,
  nullSubdocOptions,
  selfOrigin,
  tinyUpdate,
  zeroLengthDeleted,
} from './hostileFixtures.js'

/** Issue 17 ("Hostile writers"), items 1-3 and the size limit of item 7, against a real server. */

let srv: TestServer | null = null
const sockets: TestClient[] = []
const dirs: string[] = []
const unhandled: unknown[] = []
const onUnhandled = (err: unknown) => void unhandled.push(err)

beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)
})
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  process.off('unhandledRejection', onUnhandled)
  process.off('uncaughtException', onUnhandled)
})

const dataDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-hostile-'))
  dirs.push(dir)
  return dir
}
const fileStore = (dir: string) => new SqliteDocStore({ path: join(dir, 'weft.sqlite') })
const start = async (store: DocStore, options: Parameters<typeof startTestServer>[0] = {}) =>
  (srv = await startTestServer({ store, ...options }))
/** Stops the server and closes its store (a restart opens both again). */
const stop = async () => {
  await srv?.close()
  srv = null
}

const weft = async (room: string) => {
  const c = await WeftTestClient.open(`${srv?.ws}/relay/${room}`)
  sockets.push(c.client)
  await c.next('sync-step2')
  return c
}
const writer = async (room: string) => {
  const c = await TestClient.open(`${srv?.ws}/relay/${room}`)
  sockets.push(c)
  return c
}

/** A text update of a real document: `text` inserted at the start of root text `t`. */
const edit = (text: string, client: number): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = client
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** The close code of the close frame the server sends after its handshake response (`null`: none came). */
const closeCodeOf = (socket: Socket): Promise<number | null> =>
  new Promise((resolve) => {
    let data = Buffer.alloc(0)
    const scan = () => {
      let at = data.indexOf('\r\n\r\n') + 4
      if (at < 4) return
      while (at + 2 <= data.length) {
        const len = (data[at + 1] ?? 0) & 0x7f
        const header = len < 126 ? 2 : len === 126 ? 4 : 10
        const size =
          len < 126 ? len : len === 126 ? data.readUInt16BE(at + 2) : Number(data.readBigUInt64BE(at + 2))
        if (at + header + size > data.length) return
        if (((data[at] ?? 0) & 0x0f) === 0x8) return resolve(data.readUInt16BE(at + header))
        at += header + size
      }
    }
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      scan()
    })
    socket.on('close', () => resolve(null))
  })

describe('relay against hostile writers (issue 17)', () => {
  it('RELAY-9.2 a poison update and 300 tiny ones sent with the upgrade, before the load: the attacker is closed, the node survives, the room serves', async () => {
    const dir = await dataDir()
    const seeded = fileStore(dir)
    await seeded.append(docId('room'), edit('hello', 1))
    await seeded.close()
    const store = new GatedStore(fileStore(dir))
    await start(store)
    const release = store.holdLoads()
    const loading = store.nextLoad()
    const frames = [nullSubdocOptions(), ...Array.from({ length: 300 }, (_, i) => tinyUpdate(7, i))].map(
      (u) => maskedFrame(0x2, encodeSyncUpdate(u)),
    )
    // One TCP write: the upgrade request, the poison and 300 tiny updates.
    const attacker = connect(srv!.port, '127.0.0.1')
    attacker.on('error', () => undefined)
    await once(attacker, 'connect')
    attacker.write(Buffer.concat([Buffer.from(RawWsClient.request('/relay/room'), 'latin1'), ...frames]))
    await loading
    release()
    expect(await closeCodeOf(attacker)).toBe(CloseCode.MalformedMessage)
    attacker.destroy()
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('hello')
    expect(unhandled).toEqual([])
  })

  it("RELAY-9.1 single node: a victim's acknowledged edit survives a restart after an attacker's poison", async () => {
    const dir = await dataDir()
    await start(fileStore(dir))
    const victim = await weft('room')
    victim.sendUpdate(edit('first ', 2))
    const attacker = await writer('room')
    attacker.send(encodeSyncUpdate(nullSubdocOptions()))
    for (let i = 0; i < 255; i++) attacker.send(encodeSyncUpdate(tinyUpdate(7, i)))
    expect((await attacker.closed).code).toBe(CloseCode.MalformedMessage)
    const doc = new Y.Doc()
    doc.clientID = 2
    Y.applyUpdate(doc, edit('first ', 2))
    const before = Y.encodeStateVector(doc)
    doc.getText('t').insert(6, 'second paragraph')
    const seq = victim.sendUpdate(Y.encodeStateAsUpdate(doc, before))
    await victim.ackAtLeast(seq)
    await stop()
    await start(fileStore(dir))
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('first second paragraph')
    expect(unhandled).toEqual([])
  })

  it.each([
    ['an item whose origin is itself', selfOrigin()],
    ['a deleted item of length 0', zeroLengthDeleted()],
    ['a subdocument with null options', nullSubdocOptions()],
    ['20,000 nested maps', deepNesting().nested],
    ['a map value nesting 300 arrays (SYNC-3.5, MAX_VALUE_DEPTH)', deepValue(300)],
  ])('RELAY-9.1 %s is refused with a named code and the room keeps loading', async (_name, poison) => {
    const dir = await dataDir()
    await start(fileStore(dir))
    const victim = await weft('room')
    await victim.ackAtLeast(victim.sendUpdate(edit('kept', 3)))
    const attacker = await writer('room')
    attacker.send(encodeSyncUpdate(poison))
    expect((await attacker.closed).code).toBe(CloseCode.MalformedMessage)
    await stop()
    await start(fileStore(dir))
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('kept')
    expect(unhandled).toEqual([])
  })

  it('RELAY-9.3 a store already holding updates Yjs cannot merge or apply loads with them quarantined; inspect and compact carry on', async () => {
    const dir = await dataDir()
    const seeded = fileStore(dir)
    const id = docId('room')
    await seeded.append(id, edit('hello', 1))
    const { nested, deletion } = deepNesting()
    // Past 64 KiB and holding a deletion: the load's garbage-collecting rebuild applies the whole state.
    for (const poison of [nullSubdocOptions(), zeroLengthDeleted(), selfOrigin(), nested, deletion]) {
      await seeded.append(id, poison)
    }
    await seeded.append(id, edit('more ', 4))
    await seeded.close()
    const store = fileStore(dir)
    await start(store)
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toMatch(/hello/)
    expect(reader.doc.getText('t').toString()).toMatch(/more/)
    const kept = await store.load(quarantineId(id))
    expect(kept?.updates.length).toBe(4)
    await stop()
    // The compaction after the load dropped them from the document's own log (the quarantine keeps them).
    const after = fileStore(dir)
    expect(screenStoredDoc(await after.load(id)).quarantined).toEqual([])
    // A document the relay never loaded: weft compact keeps its poison aside and compacts the rest.
    const other = docId('other')
    await after.append(other, edit('other', 8))
    await after.append(other, selfOrigin(9))
    await after.close()

    const out = { text: '', write: (s: string) => void (out.text += s) }
    const err = { text: '', write: (s: string) => void (err.text += s) }
    expect(await inspectCommand([dir], out, err)).toBe(0)
    expect(out.text).toMatch(/quarantined\s+4 updates/)
    expect(out.text).toMatch(/other[\s\S]*quarantined\s+1 updates/)
    expect(await compactCommand([dir], out, err)).toBe(0)
    const compacted = fileStore(dir)
    expect((await compacted.load(quarantineId(other)))?.updates.length).toBe(1)
    const stored = await compacted.load(other)
    expect(stored?.updates.length).toBe(0)
    expect(screenStoredDoc(stored).quarantined).toEqual([])
    await compacted.close()
    expect(unhandled).toEqual([])
  })

  it('RELAY-9.6 at the size limit an update that only deletes what the document holds is accepted, so a writer can clean up', async () => {
    const limit = 16 * 1024
    await start(new SqliteDocStore({ path: ':memory:' }), { limits: { maxDocBytes: limit } })
    const overhead = edit('x'.repeat(10_000), 5).byteLength - 10_000
    const full = edit('a'.repeat(limit - 2 - overhead), 5) // the document 2 bytes under the limit
    expect(full.byteLength).toBe(limit - 2)
    const owner = await weft('room')
    await owner.ackAtLeast(owner.sendUpdate(full))
    // A deletion of items the document lacks (it would stay pending and grow it) is still refused at the limit.
    const ghost = new Y.Doc()
    ghost.clientID = 99
    ghost.getText('t').insert(0, 'ghost')
    const ghostBefore = Y.encodeStateVector(ghost)
    ghost.getText('t').delete(0, 5)
    const pending = Y.encodeStateAsUpdate(ghost, ghostBefore)
    const stranger = await writer('room')
    stranger.send(encodeSyncUpdate(pending))
    expect((await stranger.closed).code).toBe(CloseCode.DocumentTooLarge)
    // Anything that adds is refused now; deleting all of it (a delete set, a few bytes) is not.
    const local = new Y.Doc()
    Y.applyUpdate(local, full)
    const before = Y.encodeStateVector(local)
    local.getText('t').delete(0, local.getText('t').length)
    const cleanup = Y.encodeStateAsUpdate(local, before)
    expect(cleanup[0]).toBe(0) // no struct: only deletions
    expect(cleanup.byteLength).toBeGreaterThan(2)
    await owner.ackAtLeast(owner.sendUpdate(cleanup))
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('')
    expect(unhandled).toEqual([])
  })

  it('RELAY-9.4 an update that would grow a document past maxDocBytes is refused with DocumentTooLarge; the room serves', async () => {
    await start(new SqliteDocStore({ path: ':memory:' }), { limits: { maxDocBytes: 16 * 1024 } })
    const victim = await weft('room')
    await victim.ackAtLeast(victim.sendUpdate(edit('a'.repeat(10_000), 5)))
    const big = await writer('room')
    big.send(encodeSyncUpdate(edit('b'.repeat(10_000), 6)))
    expect((await big.closed).code).toBe(CloseCode.DocumentTooLarge)
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('a'.repeat(10_000))
    expect(unhandled).toEqual([])
  })

  it('RELAY-9.5 nesting split over many updates (25 x 900 nested maps, each hung under the last) is refused once the document would pass the limit; joiners still load it', async () => {
    await start(new SqliteDocStore({ path: ':memory:' }))
    const victim = await weft('room')
    await victim.ackAtLeast(victim.sendUpdate(edit('victim text', 3)))
    const attacker = await writer('room')
    // An ordinary document with GC off, nested one batch at a time; each update alone nests 900 deep.
    const source = new Y.Doc({ gc: false })
    source.clientID = 77
    let parent = source.getMap('root')
    for (let batch = 0; batch < 25; batch++) {
      const before = Y.encodeStateVector(source)
      source.transact(() => {
        for (let i = 0; i < 900; i++) {
          const child = new Y.Map<unknown>()
          parent.set('c', child)
          parent = child
        }
      })
      attacker.send(encodeSyncUpdate(Y.encodeStateAsUpdate(source, before)))
    }
    expect((await attacker.closed).code).toBe(CloseCode.RejectedUpdate)
    // What the relay serves applies in a fresh Yjs document and holds the victim's text.
    const reader = await weft('room')
    expect(reader.doc.getText('t').toString()).toBe('victim text')
    let depth = 0
    for (let m: unknown = reader.doc.getMap('root').get('c'); m instanceof Y.Map; m = m.get('c')) depth++
    expect(depth).toBeLessThanOrEqual(1000)
    expect(depth).toBeGreaterThan(0)
    expect(unhandled).toEqual([])
  })
})
