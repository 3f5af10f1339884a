/**
 * The seeded convergence fuzzer (SYNC-8.x): 2-8 peers on MemoryTransports in a random connected topology, with
 * partitions, drops, duplicates, reorders, reconnects and restarts from storage, editing a Y.Text, a Y.Map and a
 * Y.Array at random, and epoch resets (history compaction, COMPACT-6) started by peer 0, the epoch authority, at
 * random moments: peers that are partitioned, offline or restarting at that moment come back with edits made in the
 * old epoch. After healing every link it asserts that all peers are in the newest epoch, hold identical content,
 * and that no edit was lost: every peer equals an oracle that received every update ever made, kept per epoch (an
 * epoch's oracle gets the old epoch's oracle re-applied onto it with `rebaseOnto`, which is deterministic). Then a
 * new device (an empty store, openDocument's default epoch mode) joins one peer and must sync in the newest epoch in
 * that one open, with the same content (COMPACT-8.1b).
 */
import * as prng from 'lib0/prng'
import { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  Compactor,
  DocPersistence,
  EpochManager,
  INITIAL_EPOCH,
  SyncSession,
  docId,
  openDocument,
  type EpochRecord,
} from '../../src/index.js'
import { rebaseOnto } from '../../src/storage/epochs.js'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'

export interface FuzzOptions {
  /** Number of random steps (default 120). */
  readonly steps?: number
  /** Peer count range (default 2..8). */
  readonly minPeers?: number
  readonly maxPeers?: number
  /**
   * A deliberately broken storage that loses everything on restart, and links cut at every restart so the lost
   * edits cannot be recovered from neighbours first: used to check that the fuzzer's oracle catches lost edits.
   */
  readonly brokenStorage?: boolean
  /** Epoch resets by peer 0 (default true). */
  readonly epochs?: boolean
  /** Receives a line per notable step (debugging a failing seed). */
  readonly log?: (line: string) => void
}

export interface FuzzResult {
  readonly seed: number
  readonly ok: boolean
  readonly detail: string
  readonly peers: number
  readonly edits: number
  readonly restarts: number
  readonly drops: number
  readonly compactions: number
  readonly epochResets: number
}

interface FuzzPeer {
  readonly name: string
  doc: Y.Doc
  awareness: Awareness
  session: SyncSession
  /** The peer's durable storage, bound to its doc through DocPersistence (with log compaction). */
  readonly store: MemoryDocStore
  persistence: DocPersistence
  epochs: EpochManager
  /** neighbour name -> this side's transport of that link */
  readonly links: Map<string, MemoryTransport>
  errors: string[]
}

const snapshot = (doc: Y.Doc): string =>
  JSON.stringify({
    t: doc.getText('t').toString(),
    m: Object.entries(doc.getMap('m').toJSON()).sort(([a], [b]) => (a < b ? -1 : 1)),
    a: doc.getArray('a').toJSON(),
  })

const DOC = docId('fuzz')
/** Compacts aggressively so that compaction happens often in a short run. */
const compactor = new Compactor({
  policy: { maxUpdates: 8, maxUpdateBytes: 4096, minTailRatio: 0, hardMaxUpdates: 16 },
})

/** Hooks of one run that every (re)started peer reports to. */
interface RunHooks {
  readonly broken: boolean
  readonly onCompacted: (e: { outcome: { ok: boolean } }) => void
  /** Watches a peer's document (in the given epoch) for the app's updates. */
  readonly watch: (doc: Y.Doc, epoch: string) => void
  readonly onEpoch: (record: EpochRecord) => void
  readonly log: ((line: string) => void) | undefined
  /** Client ids from the seed, so that a seed replays exactly. */
  readonly clientId: () => number
}

const start = async (p: FuzzPeer, hooks: RunHooks): Promise<void> => {
  const doc = new Y.Doc()
  doc.clientID = hooks.clientId()
  p.doc = doc
  p.persistence = await DocPersistence.open({
    doc,
    store: hooks.broken ? new MemoryDocStore() : p.store,
    docId: DOC,
    compactor,
  })
  p.persistence.on('error', ({ error }) => p.errors.push(`store ${error.code}: ${error.message}`))
  p.persistence.on('compacted', hooks.onCompacted)
  p.epochs = new EpochManager({ persistence: p.persistence, clientId: hooks.clientId })
  hooks.watch(doc, p.epochs.record?.id ?? INITIAL_EPOCH)
  hooks.log?.(
    `${p.name} opens doc ${doc.clientID} in ${p.epochs.record?.id ?? INITIAL_EPOCH}: ${snapshot(doc)}`,
  )
  p.awareness = new Awareness(doc)
  p.session = new SyncSession({
    doc,
    awareness: p.awareness,
    durable: () => p.persistence.flushed(),
    epoch: p.epochs.record,
    epochLineage: p.epochs.lineage,
  })
  p.epochs.bind(p.session)
  p.epochs.on('epoch-changed', ({ doc: next, record }) => {
    hooks.log?.(`${p.name} -> ${record.id} (doc ${next.clientID}): ${snapshot(next)}`)
    p.doc = next
    hooks.onEpoch(record)
    hooks.watch(next, record.id)
  })
  p.epochs.on('blocked', ({ record, reason }) => p.errors.push(`epoch ${record.id} blocked: ${reason}`))
  p.epochs.on('error', ({ error }) => p.errors.push(`epoch ${error.code}: ${error.message}`))
  p.session.on('error', ({ error }) => p.errors.push(`${error.code}: ${error.message}`))
  for (const t of p.links.values()) p.session.addTransport(t)
}

/** Runs one seed. Never rejects: failures come back as `{ ok: false, detail }`. */
export const runSeed = async (seed: number, options: FuzzOptions = {}): Promise<FuzzResult> => {
  const gen = prng.create(seed)
  const steps = options.steps ?? 120
  const n = prng.int32(gen, options.minPeers ?? 2, options.maxPeers ?? 8)
  const network = new MemoryNetwork()
  /** One oracle per epoch: every update the app made in that epoch, plus (at the end) the parent re-applied. */
  // No garbage collection: the map check needs every value ever written.
  const oracles = new Map<string, Y.Doc>([[INITIAL_EPOCH, new Y.Doc({ gc: false })]])
  const records = new Map<string, EpochRecord>()
  const peers: FuzzPeer[] = []
  let edits = 0
  let restarts = 0
  let drops = 0
  let compactions = 0
  let epochResets = 0
  const oracleOf = (epoch: string): Y.Doc => {
    let o = oracles.get(epoch)
    if (!o) oracles.set(epoch, (o = new Y.Doc({ gc: false })))
    return o
  }
  const hooks: RunHooks = {
    broken: options.brokenStorage === true,
    log: options.log,
    clientId: () => prng.uint32(gen, 1, 0xfffffffe),
    onCompacted: ({ outcome }) => {
      if (outcome.ok) compactions++
    },
    watch: (doc, epoch) => {
      // Every update that a peer's app made (not from a peer path, not loaded from its store) goes to its epoch's
      // oracle.
      doc.on('update', (u: Uint8Array, origin: unknown) => {
        if (origin instanceof DocPersistence) return
        if (!(origin && typeof origin === 'object' && 'transport' in origin))
          Y.applyUpdate(oracleOf(epoch), u)
      })
    },
    onEpoch: (record) => {
      if (records.has(record.id)) return
      records.set(record.id, record)
      Y.applyUpdateV2(oracleOf(record.id), record.initial)
    },
  }

  for (let i = 0; i < n; i++) {
    const p = {
      name: `p${i}`,
      store: new MemoryDocStore(),
      links: new Map(),
      errors: [],
    } as unknown as FuzzPeer
    peers.push(p)
  }
  // Random connected topology: a random spanning tree plus a few extra edges (never necessarily complete).
  const edges: Array<[number, number]> = []
  for (let i = 1; i < n; i++) edges.push([prng.int32(gen, 0, i - 1), i])
  const extra = prng.int32(gen, 0, n)
  for (let k = 0; k < extra; k++) {
    const a = prng.int32(gen, 0, n - 1)
    const b = prng.int32(gen, 0, n - 1)
    if (a !== b && !edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) edges.push([a, b])
  }
  const linkPairs: Array<[MemoryTransport, MemoryTransport]> = []
  for (const [a, b] of edges) {
    const pa = peers[a] as FuzzPeer
    const pb = peers[b] as FuzzPeer
    const ta = network.transport(`${pa.name}>${pb.name}`)
    const tb = network.transport(`${pb.name}>${pa.name}`)
    network.link(ta, tb)
    pa.links.set(pb.name, ta)
    pb.links.set(pa.name, tb)
    linkPairs.push([ta, tb])
  }
  for (const p of peers) await start(p, hooks)
  for (const [ta, tb] of linkPairs) {
    ta.connect()
    tb.connect()
  }

  const edit = (p: FuzzPeer) => {
    edits++
    const kind = prng.int32(gen, 0, 5)
    const t = p.doc.getText('t')
    const m = p.doc.getMap<number | string>('m')
    const arr = p.doc.getArray<number>('a')
    if (kind <= 1) {
      const pos = prng.int32(gen, 0, t.length)
      t.insert(pos, prng.word(gen, 1, 6))
    } else if (kind === 2 && t.length > 0) {
      const pos = prng.int32(gen, 0, t.length - 1)
      t.delete(pos, prng.int32(gen, 1, Math.min(4, t.length - pos)))
    } else if (kind === 3) {
      if (prng.bool(gen) && m.size > 0) m.delete(prng.oneOf(gen, [...m.keys()]))
      else m.set(`k${prng.int32(gen, 0, 9)}`, prng.int32(gen, 0, 1000))
    } else if (kind === 4 && arr.length > 0 && prng.bool(gen)) {
      arr.delete(prng.int32(gen, 0, arr.length - 1), 1)
    } else {
      p.doc.transact(() => {
        arr.insert(prng.int32(gen, 0, arr.length), [prng.int32(gen, 0, 99)])
        if (prng.bool(gen)) t.insert(0, '#')
      })
    }
  }

  const restart = async (p: FuzzPeer) => {
    restarts++
    options.log?.(`restart ${p.name} in ${p.session.epoch}: ${snapshot(p.doc)}`)
    // A clean stop: everything acknowledged is durable, then the process goes away.
    await p.persistence.flushed()
    p.epochs.destroy()
    p.session.destroy()
    p.awareness.destroy()
    await p.persistence.destroy()
    p.doc.destroy()
    if (options.brokenStorage) for (const t of p.links.values()) t.disconnect()
    await start(p, hooks)
  }
  const authority = peers[0] as FuzzPeer

  try {
    for (let step = 0; step < steps; step++) {
      const r = prng.int32(gen, 0, 99)
      if (r < 35) edit(prng.oneOf(gen, peers))
      else if (r < 70) {
        // Deliver some messages, in or out of order, with faults.
        const k = prng.int32(gen, 1, 8)
        for (let i = 0; i < k && network.pending > 0; i++) {
          const idx = prng.int32(gen, 0, 9) < 7 ? 0 : prng.int32(gen, 0, network.pending - 1)
          const f = prng.int32(gen, 0, 99)
          const fault = f < 4 ? 'drop' : f < 8 ? 'duplicate' : 'deliver'
          if (fault === 'drop') drops++
          network.deliver(idx, fault)
        }
      } else if (r < 78) {
        const [ta, tb] = prng.oneOf(gen, linkPairs)
        if (network.isLinked(ta, tb)) network.cut(ta, tb)
        else network.link(ta, tb)
      } else if (r < 85) {
        const [ta] = prng.oneOf(gen, linkPairs)
        if (ta.status === 'connected') ta.disconnect()
        else ta.connect()
      } else if (r < 88) await restart(prng.oneOf(gen, peers))
      else if (r < 89) {
        if (options.epochs !== false && prng.int32(gen, 0, 2) === 0) {
          // COMPACT-3.1: the authority resets history, whatever the others are doing.
          epochResets++
          const rec = await authority.epochs.start()
          options.log?.(`step ${step}: p0 starts epoch ${rec.id}: ${snapshot(authority.doc)}`)
        } else await restart(prng.oneOf(gen, peers))
      } else if (r < 92) {
        // Let store writes, acks and compactions run (they are asynchronous).
        await new Promise((resolve) => setImmediate(resolve))
      } else network.flush()
    }
    // Heal: plug every cable back in and reconnect every transport (a fresh handshake on every link).
    for (const [ta, tb] of linkPairs) {
      network.link(ta, tb)
      ta.disconnect()
      tb.disconnect()
    }
    network.flush()
    for (const [ta, tb] of linkPairs) {
      ta.connect()
      tb.connect()
    }
    network.flush()
    // Acks and store writes settle asynchronously; deliver what they send until nothing moves.
    // Epoch switches and old-epoch lookups in a store are asynchronous too: stop after a few quiet rounds.
    for (let i = 0, quiet = 0; i < 200 && quiet < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      await Promise.all(peers.map((p) => p.epochs.settled()))
      if (network.pending === 0) quiet++
      else {
        quiet = 0
        network.flush()
      }
    }
    // Each epoch's oracle gets its parent's re-applied (parents first: seq order), as every peer would.
    const chain = [...records.values()].sort((x, y) => x.seq - y.seq)
    for (const rec of chain) {
      const rebased = rebaseOnto(oracleOf(rec.parent), rec)
      if (!rebased.ok) return fail(`oracle of ${rec.parent} lacks the base of ${rec.id}`)
      Y.applyUpdate(oracleOf(rec.id), rebased.update)
    }
    const newest = chain.at(-1)?.id ?? INITIAL_EPOCH
    const oracle = oracleOf(newest)
    const expected = snapshot(oracle)
    const expectedSv = Y.encodeStateVector(oracle)
    for (const p of peers) {
      if (p.errors.length > 0) return fail(`${p.name} reported errors: ${p.errors.join('; ')}`)
      if (p.session.epoch !== newest) return fail(`${p.name} is in epoch ${p.session.epoch}, not ${newest}`)
    }
    // Without epoch resets every peer equals the oracle. Across resets, text and arrays still must (no loss, no
    // duplicate, nothing deleted comes back), but a map key written concurrently by peers that never saw each
    // other's write may get a different winner than in the old epoch's merge (COMPACT-5.8): the peers still agree,
    // and the value is one that was written to that key.
    const reference = epochResets === 0 ? expected : snapshot((peers[0] as FuzzPeer).doc)
    const written = writtenValues(oracles.values())
    for (const p of peers) {
      const got = snapshot(p.doc)
      const diverged =
        got !== reference ||
        (epochResets > 0 && !sameSequences(p.doc, oracle)) ||
        (epochResets > 0 && !mapValuesWritten(p.doc, written))
      if (diverged) {
        for (const [e, o] of oracles) options.log?.(`oracle ${e} items:\n${describeItems(o)}`)
        options.log?.(`oracle items:\n${describeItems(oracle)}\n${p.name} items:\n${describeItems(p.doc)}`)
        return fail(`${p.name} diverged:\n  got      ${got}\n  expected ${expected}`)
      }
      const sv = Y.encodeStateVector(p.doc)
      if (!Y.equalSnapshots(Y.snapshot(p.doc), Y.snapshot(oracle)) && !equal(sv, expectedSv)) {
        return fail(`${p.name} state vector differs from the oracle`)
      }
      // What the peer stored (compacted or not) reloads to the same content.
      await p.persistence.flushed()
      const reloaded = new Y.Doc()
      const check = await DocPersistence.open({ doc: reloaded, store: p.store, docId: DOC, compactor: null })
      const fromStore = snapshot(reloaded)
      await check.destroy()
      if (!options.brokenStorage && fromStore !== reference)
        return fail(
          `${p.name}'s store reloads differently (epoch ${check.meta['epoch'] ?? '0'}, pending ${String(reloaded.store.pendingStructs !== null)}): ${fromStore}`,
        )
    }
    // COMPACT-8.1b: a new device (an empty store, the default epoch mode of openDocument) joins one peer and must
    // sync in the newest epoch within that one open, with the peers' content, nothing deferred to a reopen.
    const host = prng.oneOf(gen, peers)
    const device = await openDocument({ docId: DOC, store: new MemoryDocStore() })
    try {
      const t = network.transport(`new>${host.name}`)
      const h = network.transport(`${host.name}>new`)
      network.link(t, h)
      device.addTransport(t, { relay: true })
      host.session.addTransport(h)
      t.connect()
      h.connect()
      for (let i = 0, quiet = 0; i < 200 && quiet < 3; i++) {
        network.flush()
        await new Promise((resolve) => setImmediate(resolve))
        await Promise.all([device.flushed(), ...peers.map((p) => p.epochs.settled())])
        quiet = network.pending === 0 ? quiet + 1 : 0
      }
      const state = `in ${device.session.epoch}, synced ${String(device.session.synced)}, waiting ${device.waitingEpoch?.id ?? '-'}`
      if (device.session.epoch !== newest || !device.session.synced || device.waitingEpoch !== null)
        return fail(`a new device joining ${host.name} is ${state}, not synced in ${newest}`)
      if (snapshot(device.doc) !== reference)
        return fail(`a new device joining ${host.name} holds ${snapshot(device.doc)}, not ${reference}`)
    } finally {
      await device.destroy()
    }
    return done(true, 'converged')
  } catch (err) {
    return fail(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  } finally {
    for (const p of peers) {
      p.epochs?.destroy()
      p.session?.destroy()
      p.awareness?.destroy()
      await p.persistence?.destroy()
      p.doc?.destroy()
    }
  }

  function done(ok: boolean, detail: string): FuzzResult {
    return { seed, ok, detail, peers: n, edits, restarts, drops, compactions, epochResets }
  }
  function fail(detail: string): FuzzResult {
    return done(false, detail)
  }
}

const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i])

/** Debugging aid: every map item (id, key, deleted, origin). */
const describeItems = (doc: Y.Doc): string => {
  const lines: string[] = []
  for (const [client, structs] of doc.store.clients) {
    for (const st of structs) {
      if (!(st instanceof Y.Item) || st.parentSub === null) continue
      const content = st.deleted ? 'x' : JSON.stringify(st.content.getContent())
      lines.push(
        `  ${client}:${st.id.clock} ${st.parentSub}=${content} origin ${st.origin ? `${st.origin.client}:${st.origin.clock}` : '-'} rightOrigin ${st.rightOrigin ? `${st.rightOrigin.client}:${st.rightOrigin.clock}` : '-'}`,
      )
    }
  }
  return lines.sort().join('\n')
}

const sameSequences = (a: Y.Doc, b: Y.Doc): boolean =>
  a.getText('t').toString() === b.getText('t').toString() &&
  JSON.stringify(a.getArray('a').toJSON()) === JSON.stringify(b.getArray('a').toJSON())

/** Every value ever written to each key of the map `m`, over the given (not garbage-collected) documents. */
const writtenValues = (docs: Iterable<Y.Doc>): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>()
  for (const doc of docs) {
    for (const structs of doc.store.clients.values()) {
      for (const st of structs) {
        if (!(st instanceof Y.Item) || st.parentSub === null || !(st.content instanceof Y.ContentAny))
          continue
        let set = out.get(st.parentSub)
        if (!set) out.set(st.parentSub, (set = new Set()))
        for (const v of st.content.getContent()) set.add(JSON.stringify(v))
      }
    }
  }
  return out
}

const mapValuesWritten = (doc: Y.Doc, written: Map<string, Set<string>>): boolean =>
  [...doc.getMap('m').entries()].every(([k, v]) => written.get(k)?.has(JSON.stringify(v)) === true)
