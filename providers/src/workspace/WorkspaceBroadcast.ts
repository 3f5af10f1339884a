import { ObservableV2 } from 'lib0/observable'
import {
  CATALOGUE_DOC,
  WeftError,
  WeftErrorCode,
  isWorkspaceDocId,
  peerId,
  type PeerId,
  type Transport,
  type TransportEvents,
  type TransportStatus,
} from '@weft/core'
import { requireWorkspaceId } from './catalogue.js'
import { decodeWorkspaceFrame, encodeDocFrame } from '@weft/core/protocol'
import type { PeerSummary, PeerSummaryReport, PeerSummarySource } from './peerSummary.js'

/** Options of {@link WorkspaceBroadcast}. */
export interface WorkspaceBroadcastOptions {
  /** The workspace id `W`: tabs of the same origin with the same workspace find each other. */
  readonly workspace: string
  /** This tab's id (default: random). */
  readonly id?: string
  /** Channel name prefix (default `"weft-workspace:"`); the channel is `<prefix><W>`. */
  readonly prefix?: string
}

/**
 * What travels on a workspace's channel. `hello`/`here`/`bye` name a document; `msg` carries a DOC frame (the
 * workspace wire's framing, WS-WIRE-1), so its document is read from the frame.
 */
export type Envelope =
  | { readonly t: 'hello'; readonly from: string; readonly doc: string }
  | { readonly t: 'here'; readonly from: string; readonly to: string; readonly doc: string }
  | { readonly t: 'bye'; readonly from: string; readonly doc: string; readonly to?: string }
  | { readonly t: 'msg'; readonly from: string; readonly to: string | null; readonly frame: Uint8Array }
  | { readonly t: 'sum'; readonly from: string; readonly to: string; readonly msg: Uint8Array }

const isEnvelope = (v: unknown): v is Envelope => {
  if (typeof v !== 'object' || v === null) return false
  const e = v as Record<string, unknown>
  if (typeof e.from !== 'string') return false
  switch (e.t) {
    case 'hello':
      return typeof e.doc === 'string'
    case 'here':
      return typeof e.to === 'string' && typeof e.doc === 'string'
    case 'bye':
      return typeof e.doc === 'string' && (e.to === undefined || typeof e.to === 'string')
    case 'msg':
      return (e.to === null || typeof e.to === 'string') && e.frame instanceof Uint8Array
    case 'sum':
      return typeof e.to === 'string' && e.msg instanceof Uint8Array
    default:
      return false
  }
}

/** Events of a {@link WorkspaceBroadcast}. */
export type WorkspaceBroadcastEvents = {
  /** A step of the peer summary with another tab (WS-PEER-2): cumulative counts of this meeting. */
  'peer-summary': (report: PeerSummaryReport) => void
}

/**
 * The tabs (and workers) of one browser origin that have workspace `W` open, over ONE `BroadcastChannel` for all of
 * its documents (WS-CLIENT-LINK-8): {@link transportFor} gives each document a `Transport` whose peers are the
 * other tabs that have that document connected, so each document runs its ordinary sync session. Frames are
 * tagged with their document with the workspace wire's DOC framing. The channel is opened while at least one
 * document's transport is connected.
 */
export class WorkspaceBroadcast extends ObservableV2<WorkspaceBroadcastEvents> implements PeerSummarySource {
  /** The workspace id `W`. */
  readonly workspace: string
  /** This tab's id. */
  readonly id: string
  readonly #name: string
  readonly #transports = new Map<string, WorkspaceBroadcastTransport>()
  #channel: BroadcastChannel | null = null
  #closed = false
  /** The workspace's peer summary, when attached (WS-PEER-1). */
  #summary: PeerSummary | null = null
  /** Each other tab met, with the number of documents it is a peer of. */
  readonly #met = new Map<PeerId, number>()
  /** The page goes away for good: every document says `bye`. */
  readonly #onPageHide = () => {
    for (const t of [...this.#transports.values()]) t.disconnect()
  }

  constructor(options: WorkspaceBroadcastOptions) {
    super()
    requireWorkspaceId(options.workspace)
    this.workspace = options.workspace
    this.id = options.id ?? randomId()
    this.#name = `${options.prefix ?? 'weft-workspace:'}${options.workspace}`
  }

  /**
   * The `Transport` of document `docId` (`D`, not `W/D`) between this workspace's tabs. One per document at a time:
   * asking again while the first is alive throws, as does asking after {@link close}.
   */
  transportFor(docId: string): WorkspaceBroadcastTransport {
    return addDocTransport(
      this.#medium(),
      docId,
      (common) =>
        new WorkspaceBroadcastTransport(this.workspace, docId, {
          ...common,
          post: (e) => this.#post(e),
          joined: (peer) => this.#joined(peer),
          left: (peer) => this.#left(peer),
          id: this.id,
        }),
    )
  }

  #medium(): DocTransportMedium {
    return {
      label: `workspace broadcast ${this.workspace}`,
      closed: this.#closed,
      transports: this.#transports,
      summary: () => this.#summary,
      update: () => this.#update(),
    }
  }

  /**
   * Runs `summary` with every tab met from now on (WS-PEER-1; `openWorkspace` attaches its own). A tab is met when
   * it becomes a peer of a first document (the catalogue, in a workspace) and left when it is a peer of none.
   */
  attachSummary(summary: PeerSummary): () => void {
    this.#summary = summary
    for (const d of this.#transports.keys()) summary.loaded(d)
    // Tabs met before the summary was attached are met now, and this side starts: a first message the other tab
    // sent meanwhile found no summary here. Two crossing exchanges are harmless: each message is answered from
    // the answering side's own set alone (WS-DIGEST-2).
    for (const peer of this.#met.keys())
      summary.met(peer, true, (msg) => this.#sendSummary(peer, msg), this.#report)
    return () => {
      if (this.#summary !== summary) return
      for (const peer of this.#met.keys()) summary.left(peer)
      this.#summary = null
    }
  }

  /** Destroys every transport given out and closes the channel. */
  close(): void {
    for (const t of [...this.#transports.values()]) t.destroy()
    this.#closed = true
    this.#update()
    super.destroy()
  }

  #joined(peer: PeerId): void {
    const n = this.#met.get(peer) ?? 0
    this.#met.set(peer, n + 1)
    if (n > 0 || !this.#summary) return
    // WS-PEER-2: the tab whose id sorts first starts; the other answers.
    this.#summary.met(peer, this.id < peer, (msg) => this.#sendSummary(peer, msg), this.#report)
  }

  #left(peer: PeerId): void {
    const n = (this.#met.get(peer) ?? 0) - 1
    if (n > 0) {
      this.#met.set(peer, n)
      return
    }
    this.#met.delete(peer)
    this.#summary?.left(peer)
  }

  #sendSummary(peer: PeerId, msg: Uint8Array): void {
    if (this.#met.has(peer)) this.#post({ t: 'sum', from: this.id, to: peer, msg })
  }

  readonly #report = (report: PeerSummaryReport): void => {
    this.emit('peer-summary', [report])
  }

  #post(e: Envelope): void {
    this.#channel?.postMessage(e)
  }

  /** Opens the channel while a document is connected, closes it when none is. */
  #update(): void {
    const wanted = !this.#closed && anyConnected(this.#transports)
    if (wanted && !this.#channel) {
      const channel = new BroadcastChannel(this.#name)
      channel.onmessage = (ev: MessageEvent) => this.#receive(ev.data)
      this.#channel = channel
      globalThis.addEventListener?.('pagehide', this.#onPageHide)
    } else if (!wanted && this.#channel) {
      this.#channel.onmessage = null
      this.#channel.close()
      this.#channel = null
      globalThis.removeEventListener?.('pagehide', this.#onPageHide)
    }
  }

  #receive(raw: unknown): void {
    if (!isEnvelope(raw) || raw.from === this.id) return
    if (raw.t === 'sum') {
      const from = peerId(raw.from)
      if (raw.to === this.id && this.#met.has(from))
        this.#summary?.received(from, raw.msg, (msg) => this.#sendSummary(from, msg), this.#report)
      return
    }
    if (raw.t === 'msg') {
      if (raw.to !== null && raw.to !== this.id) return
      routeDocFrame(this.#transports, peerId(raw.from), raw.frame) // another tab's junk harms nobody
      return
    }
    this.#transports.get(raw.doc)?.received(raw)
  }
}

/** What {@link addDocTransport} reads of a workspace medium (`WorkspaceBroadcast`, `DocMux`). */
export interface DocTransportMedium {
  /** The medium in errors, e.g. `workspace broadcast W`. */
  readonly label: string
  readonly closed: boolean
  /** The medium's live transports by document id. */
  readonly transports: Map<string, WorkspaceBroadcastTransport>
  /** The peer summary attached now, if any. */
  summary(): PeerSummary | null
  /** Re-reads whether the medium is wanted (a transport connected, disconnected or went away). */
  update(): void
}

/**
 * The `transportFor` of every workspace medium: one transport per document at a time, none after the medium is
 * closed; `make` gets the port's `connected` and `released`, which keep `transports` and the peer summary's loaded
 * documents up to date.
 */
export const addDocTransport = (
  medium: DocTransportMedium,
  docId: string,
  make: (common: Pick<BroadcastPort, 'connected' | 'released'>) => WorkspaceBroadcastTransport,
): WorkspaceBroadcastTransport => {
  const { transports } = medium
  if (medium.closed) throw new WeftError(WeftErrorCode.Destroyed, `${medium.label} was closed`)
  if (docId !== CATALOGUE_DOC && !isWorkspaceDocId(docId))
    throw new WeftError(WeftErrorCode.InvalidArgument, `not a document id: ${JSON.stringify(docId)}`)
  if (transports.has(docId))
    throw new WeftError(WeftErrorCode.InvalidArgument, `document ${docId} already has a transport`)
  const transport = make({
    connected: () => medium.update(),
    released: () => {
      transports.delete(docId)
      medium.summary()?.unloaded(docId)
      medium.update()
    },
  })
  transports.set(docId, transport)
  medium.summary()?.loaded(docId)
  return transport
}

/** A DOC frame (WS-WIRE-1) from `from` to its document's transport in `transports`; anything else is ignored. */
export const routeDocFrame = (
  transports: ReadonlyMap<string, WorkspaceBroadcastTransport>,
  from: PeerId,
  frame: Uint8Array,
): void => {
  const decoded = decodeWorkspaceFrame(frame)
  if (decoded.ok && decoded.frame.kind === 'doc')
    transports.get(decoded.frame.doc)?.receivedMessage(from, decoded.frame.message)
}

/** Whether a transport of `transports` is connected: a workspace medium is wanted while one is. */
export const anyConnected = (transports: ReadonlyMap<string, WorkspaceBroadcastTransport>): boolean => {
  for (const t of transports.values()) if (t.status === 'connected') return true
  return false
}

/** What a {@link WorkspaceBroadcastTransport} needs of its {@link WorkspaceBroadcast}. */
export interface BroadcastPort {
  readonly id: string
  post(e: Envelope): void
  /** A tab became a peer of the document. */
  joined(peer: PeerId): void
  /** A tab stopped being a peer of the document. */
  left(peer: PeerId): void
  /** The transport connected or disconnected (the channel opens or closes). */
  connected(): void
  released(): void
}

/**
 * The {@link Transport} of one document `D` of a workspace between tabs, over the workspace's one
 * `BroadcastChannel` (made by {@link WorkspaceBroadcast.transportFor}). Each other tab that has `D` connected is a
 * peer: a tab announces itself with `hello`, the others answer `here`, `bye` is sent on disconnect and when the
 * page is hidden for good (`pagehide`).
 */
export class WorkspaceBroadcastTransport extends ObservableV2<TransportEvents> implements Transport {
  /** `tabs` over a BroadcastChannel; the kind of the workspace-wide transport under a `DocMux`. */
  readonly kind: string
  /** The largest message the session may send (default: none). */
  readonly maxMessageSize: number | undefined
  /** The document id `D` inside the workspace. */
  readonly doc: string
  /** The room of the document, `W/D`. */
  readonly room: string
  readonly #port: BroadcastPort
  readonly #peers = new Set<PeerId>()
  #status: TransportStatus = 'disconnected'
  #destroyed = false

  /** Made by {@link WorkspaceBroadcast.transportFor}, not by apps. */
  constructor(
    workspace: string,
    doc: string,
    port: BroadcastPort,
    medium: { kind: string; maxMessageSize?: number } = { kind: 'tabs' },
  ) {
    super()
    this.kind = medium.kind
    this.maxMessageSize = medium.maxMessageSize
    this.doc = doc
    this.room = `${workspace}/${doc}`
    this.#port = port
  }

  get status(): TransportStatus {
    return this.#status
  }

  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#peers)
  }

  connect(): void {
    if (this.#destroyed || this.#status === 'connected') return
    this.#status = 'connected'
    this.#port.connected()
    this.emit('status', [{ status: 'connected' }])
    this.#port.post({ t: 'hello', from: this.#port.id, doc: this.doc })
  }

  disconnect(peer?: PeerId): void {
    if (peer !== undefined) {
      // A tab that sent bad data: tell it we are gone for it, and forget it until it announces itself again.
      if (this.#peers.has(peer)) this.#port.post({ t: 'bye', from: this.#port.id, doc: this.doc, to: peer })
      this.#leave(peer, 'dropped')
      return
    }
    if (this.#status !== 'connected') return
    this.#port.post({ t: 'bye', from: this.#port.id, doc: this.doc })
    for (const p of [...this.#peers]) this.#leave(p, 'disconnected')
    this.#status = 'disconnected'
    this.#port.connected()
    this.emit('status', [{ status: 'disconnected' }])
  }

  send(data: Uint8Array, to?: PeerId): void {
    if (this.#status !== 'connected' || this.#peers.size === 0) return
    if (to !== undefined && !this.#peers.has(to)) return
    this.#port.post({ t: 'msg', from: this.#port.id, to: to ?? null, frame: encodeDocFrame(this.doc, data) })
  }

  override destroy(): void {
    if (this.#destroyed) return
    this.disconnect()
    this.#destroyed = true
    this.#port.released()
    super.destroy()
  }

  /** A `hello`, `here` or `bye` of this document from another tab. */
  received(e: Exclude<Envelope, { t: 'msg' | 'sum' }>): void {
    if (this.#status !== 'connected') return
    const from = peerId(e.from)
    switch (e.t) {
      case 'hello':
        this.#port.post({ t: 'here', from: this.#port.id, to: e.from, doc: this.doc })
        this.#join(from)
        return
      case 'here':
        if (e.to === this.#port.id) this.#join(from)
        return
      case 'bye':
        if (e.to === undefined || e.to === this.#port.id) this.#leave(from, 'tab left')
    }
  }

  /** A message of this document from another tab. */
  receivedMessage(from: PeerId, message: Uint8Array): void {
    if (this.#status !== 'connected' || !this.#peers.has(from)) return // only announced tabs are peers
    this.emit('message', [{ from, data: message }])
  }

  #join(peer: PeerId): void {
    if (this.#peers.has(peer)) return
    this.#peers.add(peer)
    this.#port.joined(peer)
    this.emit('peer-joined', [{ peer }])
  }

  #leave(peer: PeerId, reason: string): void {
    if (!this.#peers.delete(peer)) return
    this.#port.left(peer)
    this.emit('peer-left', [{ peer, reason }])
  }
}

const randomId = (): string => {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
