/** Shared fixtures of the rules tests: a board schema with rules, a relay hub in memory, typed writers. */
import { pino, type Logger } from 'pino'
import * as Y from 'yjs'
import { SyncSession, defineSchema, docId, openTyped, s, type DocStore } from '@weft/core'
import { Feature, encodeRolledBack, encodeSyncUpdate } from '@weft/core/protocol'
import { defineRules, unique, type Rules } from '@weft/core/rules'
import { MemoryDocStore } from '@weft/core/testing'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import { ServerMetrics } from '../../src/metrics/ServerMetrics.js'
import { memoryRelaySocketPair, type MemoryRelayClient } from '../../src/relay/MemoryRelaySocket.js'
import { RelayHub } from '../../src/relay/RelayHub.js'
import type { RelayOptions } from '../../src/relay/RelayOptions.js'
import type { RelayRulesOption } from '../../src/relay/rules/RelayRules.js'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'
import { decodedAll, nextOf, sendStep1, weftHello } from '../relay/unit/memoryRelay.js'
import { MemoryRelayTransport } from './memoryRelayTransport.js'

export const board = defineSchema({
  name: 'board',
  version: 1,
  root: {
    shapes: s.collection({
      name: s.string(),
      x: s.number(),
      author: s.string(),
      label: s.text(),
    }),
  },
})

/** Shapes: `x` in 0..100, names unique, owned by their `author`. */
export const boardRules: Rules = defineRules(board, {
  collections: { shapes: { owner: 'author', fields: { x: { min: 0, max: 100 }, label: { maxLength: 10 } } } },
  constraints: [unique('shapes', 'name')],
})

/**
 * A relay hub over an in-memory store whose rooms `board-*` have {@link boardRules}; `options`: more relay options;
 * `logger`: where the relay logs (silent by default).
 */
export const startRuledRelay = (
  rules: RelayRulesOption = { 'board-*': boardRules },
  options: Omit<RelayOptions, 'rules'> = {},
  logger: Logger = pino({ level: 'silent' }),
) => {
  const store: DocStore = new MemoryDocStore()
  const metrics = new ServerMetrics({
    connections: () => [],
    topics: () => 0,
    docsLoaded: () => hub.docsLoaded,
    relayRooms: () => hub.roomCount,
  })
  const hub: RelayHub = new RelayHub({
    store,
    ownsStore: false,
    options: { commitWindowMs: 5, ...options, rules },
    limits: DEFAULT_LIMITS,
    metrics,
    logger,
  })
  let ids = 0
  /** A connection of `subject` to `room`. */
  const connect = (room: string, subject: string | undefined): MemoryRelayClient => {
    const { relay, client } = memoryRelaySocketPair()
    const grant = new RoomGrant({ '*': 'write' }, undefined, subject, {})
    hub.accept(relay, room, 'write', { id: ++ids, room, access: 'write', grant, subject, clientAddress: '' })
    return client
  }
  /** The room's document as stored. */
  const stored = async (room: string): Promise<Y.Doc> => {
    const doc = new Y.Doc()
    const s = await store.load(docId(room))
    if (s?.snapshot) Y.applyUpdateV2(doc, s.snapshot)
    for (const u of s?.updates ?? []) Y.applyUpdate(doc, u)
    return doc
  }
  return { hub, store, connect, stored, close: () => hub.close() }
}

/**
 * A writer: a typed document whose changes it sends to the relay as numbered updates (the hello announces `rollback`
 * unless `stock`, then no hello and no numbers).
 */
export class Writer {
  readonly doc = new Y.Doc()
  readonly typed = openTyped(this.doc, board)
  readonly client: MemoryRelayClient
  readonly #stock: boolean
  #seq = 0
  #sent: Uint8Array = new Uint8Array([0])

  constructor(client: MemoryRelayClient, options: { stock?: boolean; clientID?: number } = {}) {
    this.client = client
    this.#stock = options.stock ?? false
    if (options.clientID !== undefined) this.doc.clientID = options.clientID
    sendStep1(
      client,
      this.doc,
      this.#stock ? null : weftHello({ features: Feature.Ack | Feature.Chunk | Feature.Rollback }),
    )
  }

  /** Runs `change` and sends what it wrote as one update; returns its sequence number (0 for a stock writer). */
  write(change: (shapes: Writer['typed']['root']['shapes']) => unknown): number {
    change(this.typed.root.shapes)
    // Everything not sent yet (opening the typed document may have written Weft's own metadata).
    const update = Y.encodeStateAsUpdate(this.doc, this.#sent)
    this.#sent = Y.encodeStateVector(this.doc)
    const seq = this.#stock ? null : ++this.#seq
    this.client.send(encodeSyncUpdate(update, seq))
    return seq ?? 0
  }

  /** Sends `update` as the next numbered update (a Weft writer); returns its sequence number. */
  send(update: Uint8Array): number {
    const seq = ++this.#seq
    this.client.send(encodeSyncUpdate(update, seq))
    return seq
  }

  /** Sends `rolled-back` with the document's client id (RULES-5.1). */
  rolledBack(): void {
    this.client.send(encodeRolledBack(this.doc.clientID))
  }

  /** Waits for the relay's answer to the hello and applies what it sent (the room's state). */
  async synced(): Promise<void> {
    await nextOf(this.client, 'sync-step2')
    for (const m of decodedAll(this.client))
      if (m.type === 'sync-step2' || m.type === 'sync-update') Y.applyUpdate(this.doc, m.update)
  }
}

/** Resolves once `check()` holds, re-checked after every update of `doc`. */
export const until = (doc: Y.Doc, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    if (check()) return resolve()
    const fn = () => {
      if (!check()) return
      doc.off('update', fn)
      resolve()
    }
    doc.on('update', fn)
  })

/**
 * A Weft client (SyncSession with durable acks, so it announces `rollback`) of `subject` in `room`, synced; its
 * teardown is pushed onto `cleanups`.
 */
export const ruledClient = async (
  r: ReturnType<typeof startRuledRelay>,
  room: string,
  subject: string,
  cleanups: Array<() => Promise<void> | void>,
) => {
  const doc = new Y.Doc()
  const typed = openTyped(doc, board)
  const session = new SyncSession({ doc, durable: () => Promise.resolve() })
  const transport = new MemoryRelayTransport(r.connect(room, subject))
  session.addTransport(transport)
  cleanups.push(
    () => session.destroy(),
    () => transport.destroy(),
  )
  await session.whenSynced()
  return { doc, typed, session, transport }
}

/** Resolves once the relay acknowledged everything `session` sent (refused updates are acknowledged too, RULES-5.3). */
export const settled = (session: SyncSession): Promise<void> => {
  const done = () =>
    session.paths.every(({ transport, peer }) => {
      const info = session.pathInfo(transport, peer)
      return info !== undefined && info.ackedSeq === info.sentSeq
    })
  if (done()) return Promise.resolve()
  return new Promise((resolve) => {
    const fn = () => {
      if (!done()) return
      session.off('ack', fn)
      resolve()
    }
    session.on('ack', fn)
  })
}

/** Writes shape `id` of the board schema into `doc` with plain Yjs, as a stock client does. */
export const writeShape = (
  doc: Y.Doc,
  id: string,
  x: number,
  author: string,
  label = '',
  name = id,
): void => {
  const record = new Y.Map<unknown>()
  doc.getMap('shapes').set(id, record)
  record.set('name', name)
  record.set('x', x)
  record.set('author', author)
  record.set('label', new Y.Text(label))
}

/**
 * Fills room `room` of relay `r` with `count` shapes (x in 0..99) written by `seeder`, stored and acknowledged;
 * resolves with the seeder's connection.
 */
export const seedShapes = async (
  r: ReturnType<typeof startRuledRelay>,
  count: number,
  room = 'board-big',
): Promise<Writer> => {
  const seeder = new Writer(r.connect(room, 'seeder'))
  await seeder.synced()
  const doc = new Y.Doc()
  for (let i = 0; i < count; i++) writeShape(doc, `s${i}`, i % 100, 'seeder')
  seeder.send(Y.encodeStateAsUpdate(doc))
  await nextOf(seeder.client, 'ack')
  return seeder
}

/** The shapes of `doc` as plain records. */
export const shapesOf = (doc: Y.Doc) =>
  doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>

/**
 * The shapes where a writer's changes end up: in its document, in the relay's store once the relay acknowledged all
 * it sent (RULES-5.12), and in another client's document once `arrived` holds there.
 */
export const shapesEverywhere = async (
  r: ReturnType<typeof startRuledRelay>,
  room: string,
  writer: { doc: Y.Doc; session: SyncSession },
  other: Y.Doc,
  arrived: (shapes: ReturnType<typeof shapesOf>) => boolean,
) => {
  const mine = shapesOf(writer.doc)
  await settled(writer.session)
  const stored = shapesOf(await r.stored(room))
  await until(other, () => arrived(shapesOf(other)))
  return { writer: mine, stored, other: shapesOf(other) }
}
