import * as Y from 'yjs'
import type { DocHandle } from '../doc/DocHandle.js'
import { openDocument } from '../doc/openDocument.js'
import { docId, type DocId } from '../ids.js'
import { applyStoredDoc } from '../storage/applyStoredDoc.js'
import type { AppendOptions, CompactOptions, CompactResult, DocStore } from '../storage/DocStore.js'
import { EPOCH_META_KEY } from '../storage/epochPersist.js'
import { INITIAL_EPOCH } from '../storage/epochRecord.js'
import { MemoryNetwork, type MemoryTransport } from '../transport/MemoryTransport.js'
import { CrashingDocStore } from './CrashingDocStore.js'
import { MemoryDocStore } from './MemoryDocStore.js'

/** How {@link checkPendingCrash} (and `runPendingCrashSuite`) get the store under test. */
export interface PendingCrashHarness {
  /** A fresh, empty store (a new file, a new database name). */
  readonly create: () => Promise<DocStore>
  /**
   * The same medium after a crash: close `store` and open it again (same file, same database name). Default: the
   * same instance (an in-memory store "restarts" by being used again).
   */
  readonly reopen?: (store: DocStore) => Promise<DocStore>
  /**
   * A second store on the same medium, open beside `store` (another process's store on the same file, another tab's
   * on the same database name): a second writer (STORE-9.7). Default: the same instance.
   */
  readonly another?: (store: DocStore) => Promise<DocStore>
}

/** The document of the scenarios. */
export const D = docId('crash-doc')

/** One update the relay durably stored, with the epoch it belongs to. */
interface Durable {
  readonly epoch: string
  readonly update: Uint8Array
}

/**
 * A relay's store that records, synchronously, what it has durably stored of the document: every append and every
 * successful compaction's snapshot (as V1), once its promise resolved, with its epoch. Content survives every
 * compaction and epoch switch, so the values of the recorded updates are what the relay holds.
 */
class DurableLog extends MemoryDocStore {
  readonly durable: Durable[] = []
  #epoch = INITIAL_EPOCH
  override async append(id: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    const copy = update.slice()
    const clock = await super.append(id, update, options)
    if (id === D) this.durable.push({ epoch: options?.epoch ?? this.#epoch, update: copy })
    return clock
  }
  override async compact(
    id: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    const copy = snapshot.slice()
    const result = await super.compact(id, snapshot, throughClock, options)
    if (id !== D || !result.ok) return result
    const epoch = options?.meta?.[EPOCH_META_KEY]
    if (typeof epoch === 'string') this.#epoch = epoch
    this.durable.push({ epoch: this.#epoch, update: Y.convertUpdateFormatV2ToV1(copy) })
    return result
  }
}

/** A relay stand-in (and the epoch authority): a handle that acknowledges once its store holds an update. */
export interface Relay {
  readonly handle: DocHandle
  readonly transport: MemoryTransport
  readonly store: DurableLog
}

export const openRelay = async (net: MemoryNetwork): Promise<Relay> => {
  const store = new DurableLog()
  const handle = await openDocument({ docId: D, store, persistPending: false, compactor: null })
  const transport = net.transport('relay')
  handle.addTransport(transport)
  transport.connect()
  return { handle, transport, store }
}

/**
 * The local changes (values of the array `a`) that durably stored updates hold: one doc per epoch (each epoch is a
 * document of its own; their ids may overlap), the union of their values.
 */
export const localValues = (durable: readonly Durable[]): Set<string> => {
  const docs = new Map<string, Y.Doc>()
  for (const { epoch, update } of durable) {
    let doc = docs.get(epoch)
    if (!doc) docs.set(epoch, (doc = new Y.Doc()))
    Y.applyUpdate(doc, update)
  }
  const values = new Set<string>()
  for (const doc of docs.values()) for (const v of doc.getArray<string>('a').toArray()) values.add(v)
  return values
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/**
 * Delivers messages (all at once, or one at a time with `stepwise`) and lets store writes and acks settle until
 * nothing moves. `onStep` runs after each delivery.
 */
export const settle = async (
  net: MemoryNetwork,
  handles: readonly DocHandle[],
  stepwise = false,
  onStep: () => void = () => {},
): Promise<void> => {
  let quiet = 0
  for (let i = 0; i < 10_000; i++) {
    if (stepwise) net.deliver(0)
    else net.flush()
    onStep()
    await Promise.all(handles.map((h) => h.flushed().catch(() => undefined)))
    await nextTask()
    onStep()
    quiet = net.pending === 0 ? quiet + 1 : 0
    if (quiet >= 2) return
  }
  throw new Error('the network did not settle')
}

/** What the crash changes in the session: the crash cuts the client off the relay (a dead client sends nothing). */
interface CrashState {
  crashed: boolean
  cut: () => void
}

/**
 * The scripted session of a client: content before open, an edit while the store loads, offline edits, a connect
 * with partial delivery, a disconnect during which the relay starts a new epoch (history compaction), a reconnect
 * that follows it (re-applying the offline edits), a log compaction, edits after it. Until the crash, every
 * `pendingChanges === 0` is checked against what the relay durably holds (`violations`).
 */
const clientSession = async (
  store: DocStore,
  net: MemoryNetwork,
  relay: Relay,
  crash: CrashState,
  violations: string[],
) => {
  const first = new Y.Doc()
  first.getArray<string>('a').push(['before-open'])
  // Follows the relay's epoch on reconnect, at once (the live mode, COMPACT-8.3).
  const opening = openDocument({ docId: D, doc: first, store, epochs: 'live' })
  first.getArray<string>('a').push(['while-loading'])
  const handle = await opening
  const transport = net.transport('client')
  net.link(transport, relay.transport)
  crash.cut = () => net.cut(transport, relay.transport)
  handle.addTransport(transport, { relay: true })
  const values = () => handle.doc.getArray<string>('a').toArray()
  handle.on('pending-changed', ({ pendingChanges }) => {
    if (pendingChanges > 0 || crash.crashed) return
    const has = localValues(relay.store.durable)
    const missing = values().filter((v) => !has.has(v))
    if (missing.length > 0) violations.push(`saved while the relay lacks ${missing.join(', ')}`)
  })
  const edit = (value: string) => handle.doc.transact(() => handle.doc.getArray<string>('a').push([value]))
  const peers = [handle, relay.handle]
  edit('offline-1')
  edit('offline-2')
  await handle.flushed().catch(() => undefined)
  transport.connect()
  await settle(net, peers)
  relay.handle.doc.getArray<string>('b').push(['from-another-client'])
  edit('online-1')
  net.deliver(0)
  edit('online-2')
  await settle(net, peers, true)
  transport.disconnect()
  edit('away-1')
  await relay.handle.epochs?.start()
  edit('away-2')
  await handle.flushed().catch(() => undefined)
  transport.connect()
  edit('back-1')
  await settle(net, peers)
  await handle.epochs?.settled()
  await settle(net, peers)
  edit('new-epoch-1')
  await settle(net, peers)
  await handle.persistence?.compact().catch(() => undefined)
  edit('after-compaction')
  await settle(net, peers)
  if (!crash.crashed && handle.pendingChanges !== 0)
    violations.push(`${handle.pendingChanges} changes still pending at the end of the session`)
  if (
    !crash.crashed &&
    relay.handle.epochs?.record &&
    handle.epochs?.record?.id !== relay.handle.epochs.record.id
  )
    violations.push('the client did not follow the relay to its new epoch')
  await handle.destroy()
}

/** The outcome of one {@link checkPendingCrash} run. */
export interface PendingCrashOutcome {
  /** Store writes the session attempted (forwarded or dropped). */
  readonly writes: number
  /** Every broken rule, described (empty: STORE-9.3 holds for this crash point). */
  readonly failures: readonly string[]
}

/**
 * One run of the STORE-9.3 scenario (docs/spec/storage.md): a scripted client session (content before open, an edit
 * while the store loads, offline edits, acks, partial delivery, an epoch the relay starts while the client is away,
 * a reconnect that follows it, a log compaction) over a {@link CrashingDocStore} that crashes after `crashAfter`
 * writes (`Infinity`: never), with a relay stand-in that acknowledges once it stored an update; the crash cuts the
 * client off the relay. Then the store is reopened and checked: every stored local change the relay had not durably
 * stored at the crash is counted in `pendingChanges`; after reconnecting to the relay (which lived on),
 * `pendingChanges` is never 0 while the relay lacks a stored change, and ends at 0 with the relay holding everything
 * stored. Free of any test framework, so browser pages run it too.
 */
export const checkPendingCrash = async (
  harness: PendingCrashHarness,
  crashAfter: number,
): Promise<PendingCrashOutcome> => {
  const inner = await harness.create()
  const net = new MemoryNetwork()
  const relay = await openRelay(net)
  let atCrash: Durable[] | null = null
  const crash: CrashState = { crashed: false, cut: () => {} }
  const crashing = new CrashingDocStore(inner, {
    crashAfter,
    onCrash: () => {
      // The instant of the crash: what the relay durably holds, and nothing more comes from this client.
      atCrash = [...relay.store.durable]
      crash.crashed = true
      queueMicrotask(() => crash.cut())
    },
  })
  const violations: string[] = []
  await clientSession(crashing, net, relay, crash, violations)
  await crashing.settled()
  const where = `crash after write ${crashAfter}`
  const failures = violations.map((v) => `${where}, before the restart: ${v}`)
  violations.length = 0
  const relayHeld: readonly Durable[] = atCrash ?? [...relay.store.durable]

  // The next start: what the store holds, against what the relay durably held at the crash.
  const store = harness.reopen ? await harness.reopen(inner) : inner
  const stored = await store.load(D)
  const storedDoc = new Y.Doc()
  if (stored) applyStoredDoc(storedDoc, stored, 'load')
  const storedLocal = storedDoc.getArray<string>('a').toArray()
  const relayHas = localValues(relayHeld)
  const unacked = storedLocal.filter((v) => !relayHas.has(v))
  const handle = await openDocument({ docId: D, store, epochs: 'live' })
  if (handle.pendingChanges < unacked.length)
    failures.push(
      `${where}: pendingChanges ${handle.pendingChanges} < ${unacked.length} stored changes the relay lacks (${unacked.join(', ')})`,
    )

  // Reconnect to the relay (which lived on, in whatever epoch): never saved while it lacks a stored change, and
  // saved in the end.
  const transport = net.transport('client-restarted')
  net.link(transport, relay.transport)
  handle.addTransport(transport, { relay: true })
  const check = () => {
    if (handle.pendingChanges > 0) return
    const has = localValues(relay.store.durable)
    const missing = storedLocal.filter((v) => !has.has(v))
    if (missing.length > 0) violations.push(`saved while the relay lacks ${missing.join(', ')}`)
  }
  check()
  transport.connect()
  await settle(net, [handle, relay.handle], true, check)
  await handle.epochs?.settled()
  await settle(net, [handle, relay.handle], true, check)
  failures.push(...violations.map((v) => `${where}, after the restart: ${v}`))
  if (handle.pendingChanges !== 0)
    failures.push(`${where}: ${handle.pendingChanges} changes still pending after the restart`)
  const relayHasNow = localValues(relay.store.durable)
  const lost = storedLocal.filter((v) => !relayHasNow.has(v))
  if (lost.length > 0) failures.push(`${where}: the relay never got ${lost.join(', ')}`)
  await handle.destroy()
  await relay.handle.destroy()
  await store.close()
  return { writes: crashing.writes, failures }
}
