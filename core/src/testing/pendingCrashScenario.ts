import * as Y from 'yjs'
import type { DocHandle } from '../doc/DocHandle.js'
import { openDocument } from '../doc/openDocument.js'
import { docId, type DocId } from '../ids.js'
import { applyStoredDoc } from '../storage/applyStoredDoc.js'
import type { AppendOptions, DocStore } from '../storage/DocStore.js'
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
}

const D = docId('crash-doc')

/** A relay's store that records, synchronously, every update it has durably stored (its append resolved). */
class DurableLog extends MemoryDocStore {
  readonly durable: Uint8Array[] = []
  override async append(id: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    const copy = update.slice()
    const clock = await super.append(id, update, options)
    this.durable.push(copy)
    return clock
  }
}

/** A relay stand-in: a document handle that acknowledges once its store holds an update (durable acks). */
interface Relay {
  readonly handle: DocHandle
  readonly transport: MemoryTransport
  readonly store: DurableLog
}

const openRelay = async (net: MemoryNetwork, seed: readonly Uint8Array[]): Promise<Relay> => {
  const store = new DurableLog()
  if (seed.length > 0) await store.append(D, Y.mergeUpdates([...seed]))
  const handle = await openDocument({ docId: D, store, persistPending: false, compactor: null })
  const transport = net.transport('relay')
  handle.addTransport(transport)
  transport.connect()
  return { handle, transport, store }
}

/** The local changes (values of the array `a`) a list of updates, or a stored document, holds. */
const localValues = (updates: readonly Uint8Array[]): string[] => {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  return doc.getArray<string>('a').toArray()
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/**
 * Delivers messages (all at once, or one at a time with `stepwise`) and lets store writes and acks settle until
 * nothing moves. `onStep` runs after each delivery.
 */
const settle = async (
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

/**
 * The scripted session of a client: content before open, an edit while the store loads, offline edits, a connect
 * with partial delivery, a reconnect, a log compaction, edits after it. Every `pendingChanges === 0` while the
 * session runs is checked against what the relay durably holds (`violations`).
 */
const clientSession = async (store: DocStore, net: MemoryNetwork, relay: Relay, violations: string[]) => {
  const doc = new Y.Doc()
  const a = doc.getArray<string>('a')
  a.push(['before-open'])
  const opening = openDocument({ docId: D, doc, store })
  a.push(['while-loading'])
  const handle = await opening
  const transport = net.transport('client')
  net.link(transport, relay.transport)
  handle.addTransport(transport, { relay: true })
  handle.on('pending-changed', ({ pendingChanges }) => {
    if (pendingChanges > 0) return
    const has = new Set(localValues(relay.store.durable))
    const missing = a.toArray().filter((v) => !has.has(v))
    if (missing.length > 0) violations.push(`saved while the relay lacks ${missing.join(', ')}`)
  })
  const edit = (value: string) => doc.transact(() => a.push([value]))
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
  edit('away-2')
  await handle.flushed().catch(() => undefined)
  transport.connect()
  edit('back-1')
  await settle(net, peers)
  await handle.persistence?.compact().catch(() => undefined)
  edit('after-compaction')
  await settle(net, peers)
  if (handle.pendingChanges !== 0)
    violations.push(`${handle.pendingChanges} changes still pending at the end of the session`)
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
 * while the store loads, offline edits, acks, partial delivery, a reconnect, a log compaction) over a
 * {@link CrashingDocStore} that crashes after `crashAfter` writes (`Infinity`: never), with a relay stand-in that
 * acknowledges once it stored an update. Then the store is reopened and checked: every stored local change the
 * relay had not durably stored at the crash is counted in `pendingChanges`; after reconnecting to the relay as it
 * was, `pendingChanges` is never 0 while the relay lacks a stored change, and ends at 0 with the relay holding
 * everything stored. Free of any test framework, so browser pages run it too.
 */
export const checkPendingCrash = async (
  harness: PendingCrashHarness,
  crashAfter: number,
): Promise<PendingCrashOutcome> => {
  const inner = await harness.create()
  const net = new MemoryNetwork()
  const relay = await openRelay(net, [])
  let atCrash: Uint8Array[] | null = null
  const crashing = new CrashingDocStore(inner, {
    crashAfter,
    onCrash: () => {
      atCrash = [...relay.store.durable]
    },
  })
  const violations: string[] = []
  await clientSession(crashing, net, relay, violations)
  await relay.handle.destroy()
  await crashing.settled()
  const where = `crash after write ${crashAfter}`
  const failures = violations.map((v) => `${where}, before the restart: ${v}`)
  violations.length = 0
  const relayHeld: Uint8Array[] = atCrash ?? [...relay.store.durable]

  // The next start: what the store holds, against what the relay durably held at the crash.
  const store = harness.reopen ? await harness.reopen(inner) : inner
  const stored = await store.load(D)
  const storedDoc = new Y.Doc()
  if (stored) applyStoredDoc(storedDoc, stored, 'load')
  const storedLocal = storedDoc.getArray<string>('a').toArray()
  const relayHas = new Set(localValues(relayHeld))
  const unacked = storedLocal.filter((v) => !relayHas.has(v))
  const handle = await openDocument({ docId: D, store })
  if (handle.pendingChanges < unacked.length)
    failures.push(
      `${where}: pendingChanges ${handle.pendingChanges} < ${unacked.length} stored changes the relay lacks (${unacked.join(', ')})`,
    )

  // Reconnect to the relay as it was at the crash: never saved while it lacks a stored change, and saved in the end.
  const net2 = new MemoryNetwork()
  const relay2 = await openRelay(net2, relayHeld)
  const transport = net2.transport('client')
  net2.link(transport, relay2.transport)
  handle.addTransport(transport, { relay: true })
  const check = () => {
    if (handle.pendingChanges > 0) return
    const has = new Set(localValues(relay2.store.durable))
    const missing = storedLocal.filter((v) => !has.has(v))
    if (missing.length > 0) violations.push(`saved while the relay lacks ${missing.join(', ')}`)
  }
  check()
  transport.connect()
  await settle(net2, [handle, relay2.handle], true, check)
  failures.push(...violations.map((v) => `${where}, after the restart: ${v}`))
  if (handle.pendingChanges !== 0)
    failures.push(`${where}: ${handle.pendingChanges} changes still pending after the restart`)
  const relayHasNow = new Set(localValues(relay2.store.durable))
  const lost = storedLocal.filter((v) => !relayHasNow.has(v))
  if (lost.length > 0) failures.push(`${where}: the relay never got ${lost.join(', ')}`)
  await handle.destroy()
  await relay2.handle.destroy()
  await store.close()
  return { writes: crashing.writes, failures }
}
