import { ObservableV2 } from 'lib0/observable'
import {
  closeCodeName,
  isRetryableClose,
  type PeerId,
  type Transport,
  type TransportStatus,
} from '@weft/core'
import * as Y from 'yjs'
import {
  deletionsDigest,
  encodeDocFrame,
  encodeSubscribe,
  encodeUnsubscribe,
  readDeletions,
  type DeleteRanges,
} from '@weft/core/protocol'
import { connectionErrorReason, type ConnectionError } from '../websocket/connectionError.js'
import type { WebSocketTransportEvents } from '../websocket/WebSocketTransport.js'
import { HandshakeEcho } from './handshakeEcho.js'

/** What a {@link WorkspaceDocTransport} needs of the workspace's one connection (the `WorkspaceSocket`). */
export interface WorkspaceDocPort {
  /** Whether the connection is open. */
  readonly open: boolean
  /** The connection's own status. */
  readonly status: TransportStatus
  /** Opens the connection, or retries at once while a reconnect waits out its backoff. */
  connect(): void
  /** Sends a frame of document `doc` in turn with the other documents' frames (WS-CLIENT-LINK-6). */
  send(doc: string, frame: Uint8Array): void
  /** Forgets document `doc`'s frames that still wait to be sent, and returns them. */
  drop(doc: string): Uint8Array[]
  /** The transport was destroyed: the connection forgets it. */
  released(doc: string): void
  /** How long a dropped document waits before it subscribes again, in ms (the first reconnect delay, jittered). */
  retryDelay(): number
}

/**
 * The {@link Transport} of one document `D` of a workspace over the workspace's one connection (WS-CLIENT-LINK-2):
 * its one peer is the relay's room `W/D`. `connect()` subscribes the document (SUBSCRIBE), its messages travel as
 * DOC frames, `disconnect()` unsubscribes it (UNSUBSCRIBE). The peer joins when the subscription is sent on an open
 * connection and leaves when the connection closes, the document is unsubscribed, or the relay refuses the
 * document (REFUSED, reported as `connection-error` like a per-room connection's close code). A document's
 * ordinary sync session runs over it unchanged. Made by `WorkspaceSocket.transportFor`.
 */
export class WorkspaceDocTransport extends ObservableV2<WebSocketTransportEvents> implements Transport {
  readonly kind = 'relay'
  /** Like a per-room connection: the session chunks at its default size. */
  readonly maxMessageSize = undefined
  /** The document id `D` inside the workspace. */
  readonly doc: string
  /** The relay room of the document, `W/D`. */
  readonly room: string
  readonly #peer: PeerId
  readonly #port: WorkspaceDocPort
  /** `connect()` was called and neither `disconnect()` nor a final refusal followed. */
  #wanted = false
  /** SUBSCRIBE was sent on the open connection (the relay's room is this transport's peer). */
  #subscribed = false
  #subscribeFrame: Uint8Array | null = null
  #status: TransportStatus = 'disconnected'
  #destroyed = false
  /** A dropped document's subscription again, waiting. */
  #retry: ReturnType<typeof setTimeout> | null = null
  /** A handshake of a document both sides hold stores nothing at the relay (WS-CLIENT-LINK-9). */
  readonly #echo = new HandshakeEcho()
  /** The document this transport carries, once the workspace told it (WS-WIRE-6). */
  #ydoc: Y.Doc | null = null
  /** The deletions {@link #ydoc} holds, kept until a transaction of it deletes something; `null`: not read yet. */
  #held: DeleteRanges | null = null
  readonly #onTransaction = (tr: Y.Transaction): void => {
    if (tr.deleteSet.clients.size > 0) this.#held = null
  }

  /** Made by the workspace's socket (`WorkspaceSocket.transportFor`), not by apps. */
  constructor(port: WorkspaceDocPort, workspace: string, doc: string, peer: PeerId) {
    super()
    this.#port = port
    this.doc = doc
    this.room = `${workspace}/${doc}`
    this.#peer = peer
  }

  /**
   * Tells the transport which `Y.Doc` it carries: each SUBSCRIBE then sends the digest of the deletions the document
   * holds, and the relay's step 2 leaves them out when it holds no others (WS-WIRE-6; without it, the relay's
   * answer to an up-to-date document is its whole delete set). The workspace does this for every document it opens.
   */
  attachDoc(doc: Y.Doc): void {
    this.#ydoc?.off('afterTransaction', this.#onTransaction)
    this.#ydoc = doc
    this.#held = null
    doc.on('afterTransaction', this.#onTransaction)
  }

  get status(): TransportStatus {
    return this.#status
  }

  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#subscribed ? [this.#peer] : [])
  }

  /** Whether the document is subscribed on the open connection. */
  get subscribed(): boolean {
    return this.#subscribed
  }

  /** Subscribes the document (now if the connection is open, else once it opens) and opens the connection. */
  connect(): void {
    if (this.#destroyed) return
    this.#wanted = true
    this.#port.connect()
    if (this.#port.open) this.linkOpened()
    else this.#update()
  }

  /**
   * Unsubscribes the document. With the relay's peer (the session dropped it after bad input), the document is
   * unsubscribed and subscribed again after the first reconnect delay, as a dropped per-room connection reconnects.
   */
  disconnect(peer?: PeerId): void {
    if (peer !== undefined && peer !== this.#peer) return
    this.#stopRetry()
    if (peer === undefined) this.#wanted = false
    const was = this.#unsubscribe(peer === undefined ? 'client disconnect' : 'dropped by client')
    this.#update()
    if (peer !== undefined && was && this.#wanted)
      this.#retry = setTimeout(() => {
        this.#retry = null
        this.linkOpened()
      }, this.#port.retryDelay())
  }

  send(data: Uint8Array, to?: PeerId): void {
    if (!this.#subscribed || (to !== undefined && to !== this.#peer)) return
    for (const m of this.#echo.outgoing(data)) this.#port.send(this.doc, encodeDocFrame(this.doc, m))
  }

  override destroy(): void {
    if (this.#destroyed) return
    this.disconnect()
    this.#destroyed = true
    this.#ydoc?.off('afterTransaction', this.#onTransaction)
    this.#ydoc = null
    this.#held = null
    this.#port.released(this.doc)
    super.destroy()
  }

  /** The connection opened (or is open): a wanted document subscribes. */
  linkOpened(): void {
    if (!this.#wanted || this.#subscribed || !this.#port.open) return
    this.#stopRetry()
    this.#subscribed = true
    const held = this.#deletions()
    this.#echo.reset(held)
    this.#subscribeFrame = encodeSubscribe(this.doc, held && deletionsDigest(held))
    this.#port.send(this.doc, this.#subscribeFrame)
    this.#update()
    this.emit('peer-joined', [{ peer: this.#peer }])
  }

  /** The connection closed: the relay's room is gone with it (subscribed again when it reopens). */
  linkClosed(reason: string): void {
    const was = this.#subscribed
    this.#subscribed = false
    this.#subscribeFrame = null
    this.#update()
    if (was) this.emit('peer-left', [{ peer: this.#peer, reason }])
  }

  /** The connection's status changed (e.g. gave up after a final close code). */
  linkStatus(): void {
    this.#update()
  }

  /** The connection was refused for good (auth): told to the document like a per-room connection's refusal. */
  linkRefused(error: ConnectionError): void {
    if (this.#wanted) this.emit('connection-error', [error])
  }

  /** A DOC frame of this document arrived. */
  received(message: Uint8Array): void {
    if (!this.#subscribed) return
    for (const m of this.#echo.incoming(message)) this.#port.send(this.doc, encodeDocFrame(this.doc, m))
    this.emit('message', [{ from: this.#peer, data: message }])
  }

  /**
   * The relay refused this document (REFUSED, WS-CLIENT-LINK-3): the peer leaves; a final code stops the document
   * until `connect()` (reported as `connection-error`), a transient one subscribes it again on the next reconnection.
   */
  refused(code: number, reason: string): void {
    const final = !isRetryableClose(code)
    const name = closeCodeName(code)
    this.#stopRetry()
    this.#subscribed = false // the relay holds no membership for it any more: no UNSUBSCRIBE
    this.#subscribeFrame = null
    this.#port.drop(this.doc)
    if (final) this.#wanted = false
    this.#update()
    this.emit('peer-left', [{ peer: this.#peer, reason: `refused ${code} ${name ?? reason}` }])
    if (final)
      this.emit('connection-error', [
        { code, reason: connectionErrorReason(code) ?? 'refused', name, willRetry: false },
      ])
  }

  /**
   * The deletions the attached document holds now, or `null` (WS-WIRE-6). Read from the whole document (every item
   * of the catalogue: tens of milliseconds for 10,000 records) only when a transaction deleted something since the
   * last read, not at every reconnection. Never mutated by the readers (the echo copies what it adds to).
   */
  #deletions(): DeleteRanges | null {
    const doc = this.#ydoc
    if (doc === null || doc.isDestroyed) return null
    this.#held ??= readDeletions(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))?.deletions ?? null
    return this.#held
  }

  #stopRetry(): void {
    if (this.#retry) clearTimeout(this.#retry)
    this.#retry = null
  }

  /** Returns whether the document was subscribed. */
  #unsubscribe(reason: string): boolean {
    if (!this.#subscribed) return false
    this.#subscribed = false
    const waiting = this.#port.drop(this.doc)
    // A SUBSCRIBE that never left needs no UNSUBSCRIBE.
    if (!waiting.includes(this.#subscribeFrame!)) this.#port.send(this.doc, encodeUnsubscribe(this.doc))
    this.#subscribeFrame = null
    this.#update()
    this.emit('peer-left', [{ peer: this.#peer, reason }])
    return true
  }

  #update(): void {
    const status: TransportStatus = !this.#wanted
      ? 'disconnected'
      : this.#subscribed
        ? 'connected'
        : this.#port.status === 'disconnected'
          ? 'disconnected'
          : 'connecting'
    if (status === this.#status) return
    this.#status = status
    this.emit('status', [{ status }])
  }
}
