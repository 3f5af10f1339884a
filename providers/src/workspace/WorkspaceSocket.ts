import { ObservableV2 } from 'lib0/observable'
import {
  CATALOGUE_DOC,
  CloseCode,
  WeftError,
  WeftErrorCode,
  isWorkspaceDocId,
  peerId,
  toWeftError,
  workspaceDocId,
  type DocId,
  type DocStore,
  type TransportStatus,
} from '@weft/core'
import { requireWorkspaceId } from './catalogue.js'
import { decodeWorkspaceFrame, encodeCatchUp, type WorkspaceFrame } from '@weft/core/protocol'
import type { ConnectionError } from '../websocket/connectionError.js'
import {
  ReconnectingSocket,
  type ReconnectOptions,
  type WebSocketLike,
} from '../websocket/ReconnectingSocket.js'
import { FairSendQueue } from './FairSendQueue.js'
import { WorkspaceCursor } from './WorkspaceCursor.js'
import { WorkspaceDocTransport, type WorkspaceDocPort } from './WorkspaceDocTransport.js'
import type { WorkspaceLink, WorkspaceLinkEvents } from './WorkspaceLink.js'

/** The store meta key, on the catalogue document, that holds a workspace's catch-up cursor (WS-CLIENT-LINK-4). */
export const WORKSPACE_CURSOR_META = 'workspace-cursor'

/** Options of {@link WorkspaceSocket}; the token, reconnect and online settings are those of `WebSocketTransport`. */
export interface WorkspaceSocketOptions extends ReconnectOptions {
  /** The relay's address without a path, e.g. `ws://localhost:4444` (the workspace path is appended). */
  readonly url: string
  /** The workspace id `W` (non-empty, no `/`, at most 128 bytes). */
  readonly workspace: string
  /** The relay's multiplexed endpoint (its `workspacePath` option); default `/workspace`. */
  readonly workspacePath?: string
  /**
   * Where the catch-up cursor is kept: the meta `workspace-cursor` of the document `cursorDoc`. Without a
   * store the cursor lives in memory only, and each new socket catches up from 0.
   */
  readonly store?: DocStore
  /** The document whose meta holds the cursor; default the catalogue, `W/.catalogue`. */
  readonly cursorDoc?: DocId
  /** The most documents asked for per CHANGES page (default 1000). */
  readonly pageSize?: number
  /**
   * Frames wait in their document's queue while the socket holds this many bytes unsent (its `bufferedAmount`);
   * the queues are then drained in turn (default 256 KiB, WS-CLIENT-LINK-6).
   */
  readonly highWaterMark?: number
  /** How often the waiting queues look at the socket's buffer again, in ms (default 10). */
  readonly drainIntervalMs?: number
}

/** Events of {@link WorkspaceSocket}: the {@link WorkspaceLink} events, `connection-error` and `error`. */
export type WorkspaceSocketEvents = WorkspaceLinkEvents & {
  /**
   * The relay closed the socket with a final close code (a token refused or expired...), as
   * `WebSocketTransportEvents['connection-error']`; every connected document's transport reports it too.
   */
  'connection-error': (event: ConnectionError) => void
  /**
   * An asynchronous fault: the cursor could not be read or stored (`store-failed`), or the relay sent a frame that
   * is not one (`malformed-message`; the socket is closed and reconnects).
   */
  error: (event: { error: WeftError }) => void
}

/**
 * The one WebSocket of a workspace `W` to the relay's multiplexed endpoint `<url><workspacePath>/<W>`
 * (docs/spec/workspaces.md, `WS-CLIENT-LINK-*`): a {@link WorkspaceLink}. It gives each document a `Transport`
 * ({@link transportFor}) whose messages travel as DOC frames, so each document runs its ordinary sync session; it
 * reconnects like `WebSocketTransport` (same token, backoff, online and close-code rules) and, on each
 * (re)connection, subscribes again only the documents whose transports are connected and asks the relay for the
 * documents changed since its cursor (CATCH_UP), reported as `changed` and `caught-up`.
 *
 * @example
 * ```ts
 * const link = new WorkspaceSocket({ url: 'wss://relay.example.com', workspace: 'team-42', store, token })
 * link.on('changed', ({ doc, seq }) => void pull(doc).then(() => link.handled(seq)))
 * const notes = await openDoc({ docId: 'team-42/notes', store, relay: link.transportFor('notes') })
 * ```
 */
export class WorkspaceSocket extends ObservableV2<WorkspaceSocketEvents> implements WorkspaceLink {
  /** The workspace id `W`. */
  readonly workspace: string
  readonly #socket: ReconnectingSocket
  readonly #queue: FairSendQueue
  readonly #store: DocStore | undefined
  readonly #cursorDoc: DocId
  readonly #pageSize: number
  readonly #transports = new Map<string, WorkspaceDocTransport>()
  readonly #port: WorkspaceDocPort
  #cursor: WorkspaceCursor | null = null
  #loading: Promise<void> | null = null
  #wanted = false
  #closed = false
  /** A CATCH_UP was sent and its last page has not come yet. */
  #catching = false
  /** The cursor the running catch-up asked from. */
  #askedFrom = 0
  /** The value stored (or being stored) as the cursor. */
  #stored = 0
  #writing: Promise<void> | null = null

  constructor(options: WorkspaceSocketOptions) {
    super()
    requireWorkspaceId(options.workspace)
    this.workspace = options.workspace
    this.#store = options.store
    this.#cursorDoc = options.cursorDoc ?? workspaceDocId(options.workspace, CATALOGUE_DOC)
    this.#pageSize = options.pageSize ?? 1000
    const base = options.url.replace(/\/+$/, '')
    const path = (options.workspacePath ?? '/workspace').replace(/\/+$/, '')
    this.#socket = new ReconnectingSocket(`${base}${path}/${encodeURIComponent(options.workspace)}`, options)
    this.#queue = new FairSendQueue(
      {
        send: (frame) => void this.#socket.send(frame),
        buffered: () =>
          (this.#socket.socket as (WebSocketLike & { bufferedAmount?: number }) | null)?.bufferedAmount ?? 0,
      },
      { highWaterMark: options.highWaterMark ?? 256 * 1024, drainIntervalMs: options.drainIntervalMs ?? 10 },
    )
    const socket = this.#socket
    this.#port = {
      get open() {
        return socket.socket !== null
      },
      get status() {
        return socket.status
      },
      connect: () => this.connect(),
      send: (doc, frame) => this.#queue.push(doc, frame),
      drop: (doc) => this.#queue.drop(doc),
      released: (doc) => this.#transports.delete(doc),
      retryDelay: () => Math.floor((options.random ?? Math.random)() * (options.minReconnectMs ?? 500)),
    }
    socket.on('status', ({ status }) => {
      for (const t of this.#transports.values()) t.linkStatus()
      this.emit('status', [{ status }])
    })
    socket.on('open', () => {
      this.#queue.clear()
      this.#catching = false
      // CATCH_UP first: the relay answers it before the subscriptions' handshakes, so the changed documents are
      // known, and their brief syncs start, while the catalogue still syncs.
      this.#catchUp()
      for (const t of this.#transports.values()) t.linkOpened()
    })
    socket.on('message', ({ data }) => this.#receive(data))
    socket.on('close', ({ info }) => {
      this.#queue.clear()
      this.#catching = false
      const reason = `closed ${info.code} ${info.name ?? info.reason}`
      for (const t of this.#transports.values()) t.linkClosed(reason)
    })
    socket.on('connection-error', (e) => {
      this.emit('connection-error', [e])
      for (const t of this.#transports.values()) t.linkRefused(e)
    })
  }

  /** `connected` while the socket is open; `connecting` while it is opened or a reconnect waits. */
  get status(): TransportStatus {
    return this.#socket.status
  }

  /** The catch-up cursor: every change up to it is handled (what is, or is being, stored). */
  get cursor(): number {
    return this.#cursor?.cursor ?? this.#stored
  }

  /** Frames waiting for the socket's buffer to drain, over every document (WS-CLIENT-LINK-6). */
  get waitingFrames(): number {
    return this.#queue.waiting
  }

  /**
   * The `Transport` of document `docId` (`D`, not `W/D`) over this socket. Connecting it subscribes the document;
   * disconnecting or destroying it unsubscribes it. One transport per document at a time: asking again while the
   * first is alive throws, as does asking after {@link close}.
   */
  transportFor(docId: string): WorkspaceDocTransport {
    if (this.#closed)
      throw new WeftError(WeftErrorCode.Destroyed, `workspace socket ${this.workspace} was closed`)
    if (docId !== CATALOGUE_DOC && !isWorkspaceDocId(docId))
      throw new WeftError(WeftErrorCode.InvalidArgument, `not a document id: ${JSON.stringify(docId)}`)
    if (this.#transports.has(docId))
      throw new WeftError(WeftErrorCode.InvalidArgument, `document ${docId} already has a transport`)
    const transport = new WorkspaceDocTransport(
      this.#port,
      this.workspace,
      docId,
      peerId(`relay:${this.workspace}/${docId}`),
    )
    this.#transports.set(docId, transport)
    return transport
  }

  /**
   * The workspace has acted on change `seq` (reported by `changed`). The stored cursor moves to the end of the
   * contiguous run of handled changes (WS-CLIENT-LINK-4).
   */
  handled(seq: number): void {
    if (this.#cursor?.handled(seq)) this.#persist()
  }

  /**
   * Opens the socket (after the stored cursor was read), and keeps it open; called while a reconnect waits out its
   * backoff, retries at once. Idempotent.
   */
  connect(): void {
    if (this.#closed) return
    this.#wanted = true
    if (this.#cursor) this.#socket.connect()
    else
      this.#loading ??= this.#loadCursor().then(() => {
        if (this.#wanted && !this.#closed) this.#socket.connect()
      })
  }

  /** Closes the socket until {@link connect}; transports given out stay and subscribe again on reconnect. */
  disconnect(): void {
    this.#wanted = false
    this.#socket.disconnect()
  }

  /** Closes the socket for good, destroys every transport given out, and waits for the cursor to be stored. */
  async close(): Promise<void> {
    if (this.#closed) return this.#writing ?? undefined
    for (const t of [...this.#transports.values()]) t.destroy()
    this.#closed = true
    this.disconnect()
    this.#socket.destroy()
    await this.#writing
  }

  override destroy(): void {
    void this.close()
    super.destroy()
  }

  async #loadCursor(): Promise<void> {
    let stored = 0
    try {
      const value = (await this.#store?.load(this.#cursorDoc))?.meta[WORKSPACE_CURSOR_META]
      const n = value === undefined ? 0 : Number(value)
      stored = Number.isSafeInteger(n) && n >= 0 ? n : 0
    } catch (err) {
      this.#fail(toWeftError(WeftErrorCode.StoreFailed, err, 'could not read the workspace cursor'))
    }
    this.#stored = stored
    this.#cursor = new WorkspaceCursor(stored)
  }

  /** Sends CATCH_UP from the last accounted-for change, unless one is under way (WS-CLIENT-LINK-4). */
  #catchUp(): void {
    if (this.#catching || !this.#cursor || !this.#socket.socket) return
    this.#catching = true
    this.#askedFrom = this.#cursor.known
    this.#queue.push('', encodeCatchUp(this.#askedFrom, this.#pageSize))
  }

  #receive(data: Uint8Array): void {
    const result = decodeWorkspaceFrame(data)
    if (!result.ok) return this.#protocolError(result.reason)
    const frame = result.frame
    switch (frame.kind) {
      case 'doc':
        this.#transports.get(frame.doc)?.received(frame.message)
        return
      case 'refused':
        this.#transports.get(frame.doc)?.refused(frame.code, frame.reason)
        return
      case 'changed':
        return this.#changed(frame)
      case 'changes':
        return this.#changes(frame)
      default:
        return this.#protocolError(`a ${frame.kind} frame from the relay`)
    }
  }

  #changed(frame: Extract<WorkspaceFrame, { kind: 'changed' }>): void {
    const cursor = this.#cursor
    if (!cursor) return
    if (cursor.announce(frame.seq)) this.emit('changed', [{ doc: frame.doc, seq: frame.seq }])
    // A number skipped: the missing one was lost or is late; ask again (a running catch-up asks when it ends).
    if (cursor.gap) this.#catchUp()
  }

  #changes(frame: Extract<WorkspaceFrame, { kind: 'changes' }>): void {
    if (!this.#cursor) return
    if (!frame.more && frame.through < this.#askedFrom) {
      // The relay's sequence is behind the cursor (its store was reset or restored, or the cursor is another
      // relay's): every number we hold means nothing there. Start again from 0 (WS-CLIENT-LINK-4).
      this.#cursor = new WorkspaceCursor(0)
      this.#persist()
      this.#catching = false
      return this.#catchUp()
    }
    const cursor = this.#cursor
    // Seq 0: a relay whose store keeps no change sequence lists every document at each catch-up.
    for (const { doc, seq } of frame.changes)
      if (seq === 0 || cursor.announce(seq)) this.emit('changed', [{ doc, seq }])
    if (cursor.covered(frame.through)) this.#persist()
    if (frame.more) return
    this.#catching = false
    this.emit('caught-up', [{ through: frame.through }])
    if (cursor.gap) this.#catchUp()
  }

  #protocolError(reason: string): void {
    this.#fail(new WeftError(WeftErrorCode.MalformedMessage, `workspace ${this.workspace}: ${reason}`))
    this.#socket.drop('malformed frame', CloseCode.MalformedMessage)
  }

  #fail(error: WeftError): void {
    this.emit('error', [{ error }])
  }

  /** Stores the cursor; one write at a time, the latest value last. */
  #persist(): void {
    const store = this.#store
    if (!store || this.#writing) return
    this.#writing = (async () => {
      while (this.#cursor && this.#cursor.cursor !== this.#stored) {
        const value = this.#cursor.cursor
        try {
          await store.setMeta(this.#cursorDoc, WORKSPACE_CURSOR_META, String(value))
          this.#stored = value
        } catch (err) {
          this.#fail(toWeftError(WeftErrorCode.StoreFailed, err, 'could not store the workspace cursor'))
          break
        }
      }
      this.#writing = null
    })()
  }
}
