/**
 * The benchmark's workspace: `docs` documents of about `totalBytes` in all, whose contents are prefixes of the
 * sequential editing traces in ../shared/data (automerge-paper, rustcode, seph-blog1, sveltecomponent), replayed
 * into a `Y.Text` named `body`. Each trace is replayed once; its encoded state is kept at geometrically spaced
 * prefixes (every ~12% more transactions), and each document takes the prefix whose size is nearest to a size drawn
 * log-uniformly between 256 B and a cap chosen so that the mean is `totalBytes / docs`. Deterministic (seeded).
 */
import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'

type Patch = [position: number, deleteCount: number, inserted: string]

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data')
const TRACES = ['automerge-paper', 'rustcode', 'seph-blog1', 'sveltecomponent']

/** One encoded prefix of a trace. */
interface Checkpoint {
  readonly trace: string
  readonly txns: number
  readonly update: Uint8Array
}

/** The workspace's documents: ids, titles and their encoded contents (Yjs V1 updates). */
export interface Corpus {
  readonly ids: readonly string[]
  readonly titles: readonly string[]
  readonly updates: readonly Uint8Array[]
  readonly totalBytes: number
  /** Which traces were found and replayed. */
  readonly traces: readonly string[]
}

const replay = (name: string, maxBytes: number): Checkpoint[] => {
  const file = join(dataDir, `${name}.json.gz`)
  if (!existsSync(file)) return []
  const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as {
    txns: Array<{ patches: Patch[] }>
  }
  const doc = new Y.Doc()
  doc.clientID = 1
  const text = doc.getText('body')
  const out: Checkpoint[] = []
  let next = 8
  for (let i = 0; i < raw.txns.length; i++) {
    const txn = raw.txns[i]
    if (!txn) continue
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del)
        if (ins.length > 0) text.insert(pos, ins)
      }
    })
    if (i + 1 >= next || i === raw.txns.length - 1) {
      const update = Y.encodeStateAsUpdate(doc)
      out.push({ trace: name, txns: i + 1, update })
      if (update.byteLength > maxBytes) break
      next = Math.ceil(next * 1.12)
    }
  }
  doc.destroy()
  return out
}

/** A small seeded generator (mulberry32). */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Builds the corpus (a few seconds: each trace is replayed once). */
export const buildCorpus = (docs: number, totalBytes: number, seed = 42): Corpus => {
  const pool = TRACES.flatMap((t) => replay(t, 1_000_000)).sort(
    (a, b) => a.update.byteLength - b.update.byteLength,
  )
  if (pool.length === 0) throw new Error(`no traces in ${dataDir}`)
  const sizes = pool.map((c) => c.update.byteLength)
  const nearest = (target: number): Checkpoint => {
    let lo = 0
    let hi = sizes.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((sizes[mid] ?? 0) < target) lo = mid + 1
      else hi = mid
    }
    const a = pool[lo] as Checkpoint
    const b = pool[Math.max(0, lo - 1)] as Checkpoint
    return Math.abs(b.update.byteLength - target) < Math.abs(a.update.byteLength - target) ? b : a
  }
  const mean = totalBytes / docs
  const min = 256
  // Mean of a log-uniform draw on [min, cap] is (cap - min) / ln(cap / min): find the cap giving `mean`.
  let lo = mean
  let hi = (sizes[sizes.length - 1] ?? mean) * 4
  for (let i = 0; i < 60; i++) {
    const cap = (lo + hi) / 2
    if ((cap - min) / Math.log(cap / min) < mean) lo = cap
    else hi = cap
  }
  const cap = lo
  const rand = rng(seed)
  const ids: string[] = []
  const titles: string[] = []
  const updates: Uint8Array[] = []
  let total = 0
  for (let i = 0; i < docs; i++) {
    const c = nearest(min * Math.exp(rand() * Math.log(cap / min)))
    ids.push(`doc-${String(i).padStart(5, '0')}`)
    titles.push(`${c.trace} after ${c.txns} edits`)
    updates.push(c.update)
    total += c.update.byteLength
  }
  return { ids, titles, updates, totalBytes: total, traces: [...new Set(pool.map((c) => c.trace))] }
}

/**
 * An edit made elsewhere to a document holding `update`: a paragraph of ~100 characters appended by a new client
 * (`clientId`). Returns the Yjs update of that edit alone.
 */
export const makeChange = (update: Uint8Array, clientId: number, round: number): Uint8Array => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  doc.clientID = clientId
  const before = Y.encodeStateVector(doc)
  const text = doc.getText('body')
  text.insert(
    text.length,
    `\nRound ${round}: an edit made on another device while this one was away (${clientId}).\n`,
  )
  const change = Y.encodeStateAsUpdate(doc, before)
  doc.destroy()
  return change
}

/** Writes a list of byte arrays to one file (u32 count, then u32 length + bytes each), for a child process. */
export const encodeBlobs = (blobs: readonly Uint8Array[]): Buffer => {
  const size = 4 + blobs.reduce((n, b) => n + 4 + b.byteLength, 0)
  const buf = Buffer.alloc(size)
  let at = buf.writeUInt32LE(blobs.length, 0)
  for (const b of blobs) {
    at = buf.writeUInt32LE(b.byteLength, at)
    buf.set(b, at)
    at += b.byteLength
  }
  return buf
}

/** Reads what {@link encodeBlobs} wrote. */
export const decodeBlobs = (buf: Buffer): Uint8Array[] => {
  const n = buf.readUInt32LE(0)
  const out: Uint8Array[] = []
  let at = 4
  for (let i = 0; i < n; i++) {
    const len = buf.readUInt32LE(at)
    at += 4
    out.push(new Uint8Array(buf.buffer, buf.byteOffset + at, len))
    at += len
  }
  return out
}
