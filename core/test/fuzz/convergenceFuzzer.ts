/**
 * The seeded convergence fuzzer (SYNC-8.x): 2-8 peers on MemoryTransports in a random connected topology, with
 * partitions, drops, duplicates, reorders, reconnects and restarts from storage, editing a Y.Text, a Y.Map and a
 * Y.Array at random. After healing every link it asserts that all peers hold identical content and that no edit
 * was lost (every peer equals an oracle that received every update ever made).
 */
import * as prng from 'lib0/prng'
import { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { SyncSession } from '../../src/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'

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
}

export interface FuzzResult {
  readonly seed: number
  readonly ok: boolean
  readonly detail: string
  readonly peers: number
  readonly edits: number
  readonly restarts: number
  readonly drops: number
}

interface FuzzPeer {
  readonly name: string
  doc: Y.Doc
  awareness: Awareness
  session: SyncSession
  /** The peer's durable storage: every update its doc ever emitted (simple append log). */
  readonly stored: Uint8Array[]
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

const start = (p: FuzzPeer, doc: Y.Doc): void => {
  p.doc = doc
  p.awareness = new Awareness(doc)
  p.session = new SyncSession({ doc, awareness: p.awareness })
  p.session.on('error', ({ error }) => p.errors.push(`${error.code}: ${error.message}`))
  doc.on('update', (u: Uint8Array) => p.stored.push(u))
  for (const t of p.links.values()) p.session.addTransport(t)
}

/** Runs one seed. Never throws: failures come back as `{ ok: false, detail }`. */
export const runSeed = (seed: number, options: FuzzOptions = {}): FuzzResult => {
  const gen = prng.create(seed)
  const steps = options.steps ?? 120
  const n = prng.int32(gen, options.minPeers ?? 2, options.maxPeers ?? 8)
  const network = new MemoryNetwork()
  const oracle = new Y.Doc()
  const peers: FuzzPeer[] = []
  let edits = 0
  let restarts = 0
  let drops = 0
  const record = (u: Uint8Array, origin: unknown) => {
    // Every update that a peer's app made (origin is not a peer path) goes to the oracle.
    if (!(origin && typeof origin === 'object' && 'transport' in origin)) Y.applyUpdate(oracle, u)
  }

  for (let i = 0; i < n; i++) {
    const p = { name: `p${i}`, stored: [], links: new Map(), errors: [] } as unknown as FuzzPeer
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
  for (const p of peers) {
    const doc = new Y.Doc()
    doc.on('update', record)
    start(p, doc)
  }
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

  const restart = (p: FuzzPeer) => {
    restarts++
    p.session.destroy()
    p.awareness.destroy()
    p.doc.destroy()
    const doc = new Y.Doc()
    const stored = options.brokenStorage ? [] : [...p.stored]
    p.stored.length = 0
    if (options.brokenStorage) for (const t of p.links.values()) t.disconnect()
    // Restore from storage (as one transaction), then persist from here on.
    doc.transact(() => {
      for (const u of stored) Y.applyUpdate(doc, u)
    }, 'storage')
    p.stored.push(...stored)
    doc.on('update', record)
    start(p, doc)
    p.stored.splice(stored.length) // the restore transaction itself is not a new edit
  }

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
      } else if (r < 89) restart(prng.oneOf(gen, peers))
      else network.flush()
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
    const expected = snapshot(oracle)
    const expectedSv = Y.encodeStateVector(oracle)
    for (const p of peers) {
      if (p.errors.length > 0) return fail(`${p.name} reported errors: ${p.errors.join('; ')}`)
      const got = snapshot(p.doc)
      if (got !== expected) return fail(`${p.name} diverged:\n  got      ${got}\n  expected ${expected}`)
      const sv = Y.encodeStateVector(p.doc)
      if (!Y.equalSnapshots(Y.snapshot(p.doc), Y.snapshot(oracle)) && !equal(sv, expectedSv)) {
        return fail(`${p.name} state vector differs from the oracle`)
      }
    }
    return done(true, 'converged')
  } catch (err) {
    return fail(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  } finally {
    for (const p of peers) {
      p.session.destroy()
      p.awareness.destroy()
      p.doc.destroy()
    }
  }

  function done(ok: boolean, detail: string): FuzzResult {
    return { seed, ok, detail, peers: n, edits, restarts, drops }
  }
  function fail(detail: string): FuzzResult {
    return done(false, detail)
  }
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i])
