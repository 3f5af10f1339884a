import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ObservableV2 } from 'lib0/observable'
import { type PeerId, type Transport } from '@weft/core'
import type { PeerSummary, PeerSummaryReport, PeerSummarySource } from './peerSummary.js'
import {
  WorkspaceBroadcastTransport,
  addDocTransport,
  anyConnected,
  routeDocFrame,
  type Envelope,
} from './WorkspaceBroadcast.js'

/** Control frames of a {@link DocMux} (DOC frames are the workspace wire's kind 0, WS-WIRE-1). */
const Kind = { Hello: 64, Here: 65, Bye: 66, Summary: 67 } as const
/** Bytes a DOC frame adds around a message, beyond the document id's: kind and the id's length. */
const FRAME_OVERHEAD = 8

/** Events of a {@link DocMux}. */
export type DocMuxEvents = {
  /** A step of the peer summary with a peer (WS-PEER-2): cumulative counts of this meeting. */
  'peer-summary': (report: PeerSummaryReport) => void
}

/**
 * Every document of workspace `W` over ONE `Transport` between peers (WS-PEER-5): e.g. one `WebRtcTransport` for
 * the room `W/.workspace`, so a workspace has one signaling subscription and one connection per remote peer
 * whatever the number of its documents. {@link transportFor} gives document `D` a `Transport` whose peers are the
 * remote peers that have `D` connected (announced with hello/here/bye per document, as `WorkspaceBroadcast` does);
 * its messages travel as DOC frames (WS-WIRE-1). Bytes that are not a frame of this multiplexer are ignored.
 */
export class DocMux extends ObservableV2<DocMuxEvents> implements PeerSummarySource {
  /** The workspace id `W`. */
  readonly workspace: string
  /** The one transport every document travels on. */
  readonly base: Transport
  readonly #transports = new Map<string, WorkspaceBroadcastTransport>()
  readonly #offs: Array<() => void> = []
  #summary: PeerSummary | null = null
  #closed = false
  #connected = false

  /** `base` is owned from now on: connected while a document is, destroyed by {@link close}. */
  constructor(workspace: string, base: Transport) {
    super()
    this.workspace = workspace
    this.base = base
    const onMessage = ({ from, data }: { from: PeerId; data: Uint8Array }) => this.#receive(from, data)
    const onJoined = ({ peer }: { peer: PeerId }) => this.#joined(peer)
    const onLeft = ({ peer }: { peer: PeerId }) => this.#left(peer)
    base.on('message', onMessage)
    base.on('peer-joined', onJoined)
    base.on('peer-left', onLeft)
    this.#offs.push(() => {
      base.off('message', onMessage)
      base.off('peer-joined', onJoined)
      base.off('peer-left', onLeft)
    })
  }

  /**
   * The `Transport` of document `docId` (`D`, not `W/D`) over the shared transport. One per document at a time:
   * asking again while the first is alive throws, as does asking after {@link close}.
   */
  transportFor(docId: string): WorkspaceBroadcastTransport {
    const max = this.base.maxMessageSize
    return addDocTransport(
      {
        label: `workspace mux ${this.workspace}`,
        closed: this.#closed,
        transports: this.#transports,
        summary: () => this.#summary,
        update: () => this.#update(),
      },
      docId,
      (common) =>
        new WorkspaceBroadcastTransport(
          this.workspace,
          docId,
          { ...common, id: 'local', post: (e) => this.#post(e), joined: () => {}, left: () => {} },
          {
            kind: this.base.kind,
            ...(max === undefined ? {} : { maxMessageSize: max - FRAME_OVERHEAD - utf8Length(docId) }),
          },
        ),
    )
  }

  /** Runs `summary` with every peer of the shared transport (WS-PEER-1; `openWorkspace` attaches its own). */
  attachSummary(summary: PeerSummary): () => void {
    this.#summary = summary
    for (const d of this.#transports.keys()) summary.loaded(d)
    for (const peer of this.base.peers) this.#meet(peer, true)
    return () => {
      if (this.#summary !== summary) return
      for (const peer of this.base.peers) summary.left(peer)
      this.#summary = null
    }
  }

  /** Destroys every transport given out and the shared transport. */
  close(): void {
    if (this.#closed) return
    for (const t of [...this.#transports.values()]) t.destroy()
    this.#closed = true
    for (const off of this.#offs.splice(0)) off()
    this.base.destroy()
    super.destroy()
  }

  /** Connects the shared transport while a document is connected, disconnects it when none is. */
  #update(): void {
    const wanted = !this.#closed && anyConnected(this.#transports)
    if (wanted === this.#connected) return
    this.#connected = wanted
    if (wanted) void this.base.connect()
    else this.base.disconnect()
  }

  /** A document transport's envelope, as frames on the shared transport (`to` a peer, or every peer). */
  #post(e: Envelope): void {
    const to = 'to' in e && typeof e.to === 'string' ? (e.to as PeerId) : undefined
    if (e.t === 'msg') {
      this.base.send(e.frame, to)
      return
    }
    if (e.t === 'sum') return
    const kind = e.t === 'hello' ? Kind.Hello : e.t === 'here' ? Kind.Here : Kind.Bye
    this.base.send(control(kind, e.doc), to)
  }

  #joined(peer: PeerId): void {
    // Each connected document announces itself to the new peer.
    for (const [d, t] of this.#transports)
      if (t.status === 'connected') this.base.send(control(Kind.Hello, d), peer)
    if (this.#summary) this.#meet(peer, localFirst(this.base, peer))
  }

  #meet(peer: PeerId, initiate: boolean): void {
    this.#summary?.met(peer, initiate, (msg) => this.#sendSummary(peer, msg), this.#report)
  }

  #left(peer: PeerId): void {
    for (const t of this.#transports.values()) t.received({ t: 'bye', from: peer, doc: t.doc })
    this.#summary?.left(peer)
  }

  #sendSummary(peer: PeerId, msg: Uint8Array): void {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, Kind.Summary)
    encoding.writeUint8Array(e, msg)
    this.base.send(encoding.toUint8Array(e), peer)
  }

  readonly #report = (report: PeerSummaryReport): void => {
    this.emit('peer-summary', [report])
  }

  #receive(from: PeerId, data: Uint8Array): void {
    let kind: number
    let doc = ''
    const d = decoding.createDecoder(data)
    try {
      kind = decoding.readVarUint(d)
      if (kind === Kind.Hello || kind === Kind.Here || kind === Kind.Bye) doc = decoding.readVarString(d)
    } catch {
      return // not ours: ignored
    }
    if (kind === 0) {
      routeDocFrame(this.#transports, from, data)
    } else if (kind === Kind.Summary) {
      this.#summary?.received(from, data.subarray(d.pos), (msg) => this.#sendSummary(from, msg), this.#report)
    } else if (kind === Kind.Hello || kind === Kind.Here || kind === Kind.Bye) {
      const t = this.#transports.get(doc)
      if (!t) return
      const e = kind === Kind.Hello ? 'hello' : kind === Kind.Here ? 'here' : 'bye'
      // Addressed frames were sent to this side only: `to` is this side's own port id.
      t.received(e === 'hello' ? { t: e, from, doc } : { t: e, from, doc, to: 'local' })
    }
  }
}

/** A control frame naming document `doc`. */
const control = (kind: number, doc: string): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, kind)
  encoding.writeVarString(e, doc)
  return encoding.toUint8Array(e)
}

/** Whether this side starts the summary with `peer` (WS-PEER-2: the id that sorts first). */
const localFirst = (base: Transport, peer: PeerId): boolean => {
  const own = (base as Transport & { readonly localPeer?: string }).localPeer
  return own === undefined ? true : own < peer
}

const utf8Length = (value: string): number => new TextEncoder().encode(value).length
