import * as Y from 'yjs'
import { fromBase64, toBase64 } from 'lib0/buffer'
import { digest as sha256 } from 'lib0/hash/sha256'
import { applyStoredDoc, docId, isWorkspaceDocId, WeftError, type DocStore, type PeerId } from '@weft/core'
import { DocSet, DocSetReconciler } from '@weft/core/sync-engine'

/** The store key of a workspace's peer-summary cache: `W/~peers` (`~` is never in a document id). */
export const peerSummaryKey = (workspace: string): string => `${workspace}/~peers`

/** What one side of a peer summary exchange did so far (cumulative, per meeting). */
export interface PeerSummaryReport {
  /** The other peer. */
  readonly peer: PeerId
  /** Documents of this workspace held here and compared. */
  readonly documents: number
  /** Summary messages sent and received in this meeting. */
  readonly messages: number
  /** Their bytes (both directions). */
  readonly bytes: number
  /** Documents found to differ so far (missing on one side or with another state), handed to the workspace. */
  readonly differing: readonly string[]
  /** Stored documents decoded to build this side's set (0 when every digest came from the cache). */
  readonly decoded: number
}

/**
 * A workspace-wide transport source that meets peers and can run a peer summary with them (WS-PEER-1): it carries
 * the summary's messages on its own control channel and tells the summary which documents it has loaded.
 */
export interface PeerSummarySource {
  /** Starts running `summary` with every peer this source meets; returns the function that stops it. */
  attachSummary(summary: PeerSummary): () => void
}

/** Whether a transport source can run a peer summary. */
export const isPeerSummarySource = (source: unknown): source is PeerSummarySource =>
  typeof (source as Partial<PeerSummarySource> | null)?.attachSummary === 'function'

/** Options of {@link PeerSummary}. */
export interface PeerSummaryOptions {
  /** The workspace id `W`. */
  readonly workspace: string
  /** The workspace's local store (documents under `W/D`; the cache under `W/~peers`). */
  readonly store: DocStore
  /** Documents found to differ with a peer: the workspace syncs them (briefly, as a relay's `changed`). */
  readonly differing: (docs: readonly string[]) => void
  /** An asynchronous fault (the store); the exchange with that peer stops. */
  readonly error?: (err: unknown) => void
}

/** One meeting with one peer: its reconciler once this side's set is built, and the messages in order. */
interface Meeting {
  readonly reconciler: Promise<DocSetReconciler>
  chain: Promise<void>
  /** Documents in this side's set, and how many of them were decoded to build it. */
  readonly counts: { decoded: number; documents: number }
  reported: number
  closed: boolean
}

/**
 * The peer summary of one workspace (WS-PEER-*): when a workspace-wide source meets a peer, the two compare the
 * documents each holds locally with range-based set reconciliation (`DocSetReconciler`, WS-DIGEST-*), and every
 * document found to differ is handed to the workspace to sync; equal documents cost nothing. Each document's digest
 * input (the hash of its state vector and delete set) is cached in the store's meta of `W/~peers`, so a meeting
 * decodes only the documents written since their digest was cached (WS-PEER-3).
 */
export class PeerSummary {
  readonly workspace: string
  readonly #store: DocStore
  readonly #key: ReturnType<typeof docId>
  readonly #differing: (docs: readonly string[]) => void
  readonly #error: (err: unknown) => void
  /** Loaded documents (they may be written now), with how many sources gave them a transport. */
  readonly #loaded = new Map<string, number>()
  readonly #meetings = new Map<PeerId, Meeting>()
  /** Peers that sent a malformed message: no meeting with them until they are met again (WS-PEER-8). */
  readonly #stopped = new Set<PeerId>()
  /** Digest inputs of loaded documents, with the stored clock and size they were computed from (WS-PEER-8). */
  readonly #digests = new Map<string, { clock: number; bytes: number; hash: Uint8Array }>()
  #writes: Promise<void> = Promise.resolve()

  constructor(options: PeerSummaryOptions) {
    this.workspace = options.workspace
    this.#store = options.store
    this.#key = docId(peerSummaryKey(options.workspace))
    this.#differing = options.differing
    this.#error = options.error ?? (() => {})
  }

  /**
   * Document `d` got a transport from a source: it is loaded and may be written. Its cached digest is marked
   * stale in the store before anything else is written (WS-PEER-3).
   */
  loaded(d: string): void {
    this.#loaded.set(d, (this.#loaded.get(d) ?? 0) + 1)
    if (!isWorkspaceDocId(d)) return
    this.#write(`d:${d}`, '1')
  }

  /** Document `d`'s transport from a source was destroyed. */
  unloaded(d: string): void {
    const n = (this.#loaded.get(d) ?? 0) - 1
    if (n > 0) this.#loaded.set(d, n)
    else {
      this.#loaded.delete(d)
      this.#digests.delete(d)
    }
  }

  /**
   * A source met `peer` (it joined, again). The side whose id sorts first starts (`initiate` true) and its first
   * message is passed to `send`; the other waits for it. Every answer is passed to `send`.
   */
  met(
    peer: PeerId,
    initiate: boolean,
    send: (message: Uint8Array) => void,
    report: (r: PeerSummaryReport) => void,
  ): void {
    this.left(peer)
    this.#stopped.delete(peer)
    const meeting = this.#meeting(peer)
    if (!initiate) return
    this.#step(peer, meeting, send, report, (r) => r.initiate())
  }

  /**
   * A summary message from `peer` (started by it, or answering ours). Ignored from a peer whose malformed message
   * ended its meeting, until it is {@link met} again (WS-PEER-8).
   */
  received(
    peer: PeerId,
    message: Uint8Array,
    send: (message: Uint8Array) => void,
    report: (r: PeerSummaryReport) => void,
  ): void {
    if (this.#stopped.has(peer)) return
    const meeting = this.#meetings.get(peer) ?? this.#meeting(peer)
    this.#step(peer, meeting, send, report, (r) => r.receive(message))
  }

  /** `peer` is gone: its exchange stops. */
  left(peer: PeerId): void {
    const m = this.#meetings.get(peer)
    if (m) m.closed = true
    this.#meetings.delete(peer)
  }

  /** Resolves once the cache writes issued so far are stored. */
  async flushed(): Promise<void> {
    await this.#writes
  }

  #meeting(peer: PeerId): Meeting {
    const counts = { decoded: 0, documents: 0 }
    const meeting: Meeting = {
      reconciler: this.#docSet(counts).then((set) => new DocSetReconciler(set)),
      chain: Promise.resolve(),
      counts,
      reported: 0,
      closed: false,
    }
    this.#meetings.set(peer, meeting)
    return meeting
  }

  #step(
    peer: PeerId,
    meeting: Meeting,
    send: (message: Uint8Array) => void,
    report: (r: PeerSummaryReport) => void,
    act: (r: DocSetReconciler) => Uint8Array | null,
  ): void {
    meeting.chain = meeting.chain
      .then(async () => {
        const reconciler = await meeting.reconciler
        if (meeting.closed) return
        let out: Uint8Array | null
        try {
          out = act(reconciler)
        } catch (err) {
          // A malformed message (WS-DIGEST-4) ends this meeting; the documents stay as they are. That peer gets no
          // new meeting (each rebuilds this side's set) until it is met again (WS-PEER-8).
          if (err instanceof WeftError) {
            this.left(peer)
            this.#stopped.add(peer)
            return
          }
          throw err
        }
        if (out) send(out)
        const differing = [...reconciler.differing]
        const fresh = differing.slice(meeting.reported)
        meeting.reported = differing.length
        if (fresh.length > 0) this.#differing(fresh)
        report({
          peer,
          documents: meeting.counts.documents,
          messages: reconciler.messages,
          bytes: reconciler.bytes,
          differing,
          decoded: meeting.counts.decoded,
        })
      })
      .catch((err: unknown) => {
        this.left(peer)
        this.#error(err)
      })
  }

  /** The documents held here, with their digest inputs: cached ones as they are, the others decoded and cached. */
  async #docSet(counts: Meeting['counts']): Promise<DocSet> {
    await this.#writes
    const prefix = `${this.workspace}/`
    const [ids, stored] = await Promise.all([this.#store.list(), this.#store.load(this.#key)])
    const meta = stored?.meta ?? {}
    const entries: Array<{ id: string; stateVector: Uint8Array }> = []
    const kept = new Set<string>()
    for (const id of ids) {
      if (!id.startsWith(prefix)) continue
      const d = id.slice(prefix.length)
      if (!isWorkspaceDocId(d)) continue
      kept.add(d)
      const cached = meta[`h:${d}`]
      if (cached !== undefined && meta[`d:${d}`] === undefined && !this.#loaded.has(d)) {
        entries.push({ id: d, stateVector: fromBase64(cached) })
        continue
      }
      const doc = await this.#store.load(docId(id))
      if (!doc) continue
      // WS-PEER-8: a loaded document whose stored state did not change since (its clock and size) is not decoded.
      const known = this.#loaded.has(d) ? this.#digests.get(d) : undefined
      if (known && known.clock === doc.clock && known.bytes === doc.byteLength) {
        entries.push({ id: d, stateVector: known.hash })
        continue
      }
      counts.decoded++
      const hash = digestInput(doc)
      entries.push({ id: d, stateVector: hash })
      if (this.#loaded.has(d)) this.#digests.set(d, { clock: doc.clock, bytes: doc.byteLength, hash })
      if (!this.#loaded.has(d)) {
        this.#write(`h:${d}`, toBase64(hash))
        if (meta[`d:${d}`] !== undefined) this.#write(`d:${d}`, null)
      }
    }
    // Documents removed from the store (evicted, purged) leave the cache.
    for (const key of Object.keys(meta)) {
      const d = key.slice(2)
      if ((key.startsWith('h:') || key.startsWith('d:')) && !kept.has(d)) this.#write(key, null)
    }
    counts.documents = entries.length
    return new DocSet(entries)
  }

  #write(key: string, value: string | null): void {
    this.#writes = this.#writes
      .then(() => this.#store.setMeta(this.#key, key, value))
      .catch((err: unknown) => this.#error(err))
  }
}

/**
 * A stored document's digest input (WS-PEER-3): SHA-256 of its state vector followed by its delete set (the update
 * `Y.encodeStateAsUpdate(doc, stateVector)`, which holds no struct), so that two replicas agree exactly when their
 * contents are equal, deletions included (a state vector alone does not change when something is deleted).
 */
export const digestInput = (stored: Parameters<typeof applyStoredDoc>[1]): Uint8Array => {
  const doc = new Y.Doc()
  try {
    applyStoredDoc(doc, stored, null)
    const sv = Y.encodeStateVector(doc)
    const ds = Y.encodeStateAsUpdate(doc, sv)
    const input = new Uint8Array(sv.length + ds.length)
    input.set(sv, 0)
    input.set(ds, sv.length)
    return sha256(input)
  } finally {
    doc.destroy()
  }
}

/**
 * Attaches one {@link PeerSummary} of the workspace to every source of `sources` that can run one (WS-PEER-1);
 * returns the function that detaches them. `differing` receives the documents to sync.
 */
export const attachPeerSummaries = (
  sources: readonly unknown[],
  options: PeerSummaryOptions,
): (() => void) => {
  const capable = sources.filter(isPeerSummarySource)
  if (capable.length === 0) return () => {}
  const summary = new PeerSummary(options)
  const offs = capable.map((source) => source.attachSummary(summary))
  return () => {
    for (const off of offs) off()
  }
}
