import type { Logger } from 'pino'
import { CATALOGUE_DOC, CloseCode, isWorkspaceDocId, workspaceDocId } from '@weft/core'
import {
  decodeWorkspaceFrame,
  encodeChanged,
  encodeChanges,
  encodeDocFrameHead,
  encodeRefused,
  type WorkspaceFrame,
} from '@weft/core/protocol'
import type { Access, RoomGrant } from '../auth/RoomGrant.js'
import type { ConnectionContext } from '../hooks.js'
import type { TokenBucket } from '../connection/TokenBucket.js'
import type { RelayConnection } from '../relay/RelayConnection.js'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'
import { EncodingKey, SharedMessage } from '../relay/SharedMessage.js'
import { DocSocket, type DocSocketCarrier } from './DocSocket.js'
import { FairSender } from './FairSender.js'
import { SubscribeQueue, type SubscribeRate } from './SubscribeQueue.js'

/** The workspace's WebSocket as a session uses it: a relay socket that reports its send buffer. */
export interface WorkspaceSocket extends RelaySocket {
  /** Bytes written to the socket that the peer has not taken yet. */
  readonly bufferedAmount: number
}

/** What a {@link WorkspaceSession} asks of its endpoint. */
export interface WorkspaceSessionHost {
  /** Joins `socket` to room `room` as an ordinary member (`RelayHub.accept`); returns the member, if it joined. */
  join(
    socket: RelaySocket,
    room: string,
    access: Exclude<Access, 'none'>,
    context: ConnectionContext,
  ): RelayConnection | null
  /** RELAY-4.8: gives a member a revalidated grant whose access to its room is not gone (`RelayHub.regrant`). */
  regrant(member: RelayConnection, context: ConnectionContext): void
  /** Answers a CATCH_UP: calls `page` for each page, in order, awaiting it before reading the next. */
  catchUp(session: WorkspaceSession, cursor: number, pageSize: number): Promise<void>
  /**
   * The bucket `clientAddress`'s sockets share for their SUBSCRIBEs (WS-RELAY-12), or none: the socket's own. Called
   * once per socket; `left` ends its share.
   */
  subscribeBucket?(clientAddress: string): TokenBucket | undefined
  /** The session's socket closed. */
  left(session: WorkspaceSession): void
  /** Largest number of documents one socket may subscribe to (`ServerLimits.maxWorkspaceSubscriptions`). */
  readonly maxSubscriptions: number
  readonly maxBufferedBytes: number
  /** The pace of SUBSCRIBEs (WS-RELAY-12, `RelayOptions.workspaceSubscribes`); defaults when absent. */
  readonly subscribeRate?: SubscribeRate | undefined
}

/** Who is on a workspace socket: the grant it was accepted with, its id and address (for hooks and logs). */
export interface WorkspaceClient {
  readonly grant: RoomGrant
  readonly id: number
  readonly clientAddress: string
}

/** The key of the workspace's own frames in the fair sender (no document id is empty). */
const CONTROL = ''

/** A broadcast's DOC frames, one per document id, built once for every workspace socket (SharedMessage cache). */
const DOC_FRAMES = new EncodingKey<Map<string, SharedMessage>>('workspace-doc-frames')

/**
 * One WebSocket of the multiplexed endpoint `<workspacePath>/<W>` (WS-RELAY-*): decodes frames, keeps one
 * {@link DocSocket} per subscribed document (a member of the room `W/D`), and sends through a {@link FairSender}.
 */
export class WorkspaceSession implements RelaySocketHandler, DocSocketCarrier {
  /** The workspace `W`. */
  readonly workspace: string
  /** Who is on the socket; its grant is replaced by a revalidation (RELAY-4.8). */
  client: WorkspaceClient
  readonly #socket: WorkspaceSocket
  readonly #host: WorkspaceSessionHost
  readonly #sender: FairSender
  readonly #docs = new Map<string, DocSocket>()
  /** WS-RELAY-12: SUBSCRIBEs join their rooms at a bounded rate; past it they wait their turn. */
  readonly #subscribes: SubscribeQueue
  /** A catch-up is being answered (WS-RELAY-7: one after the other). */
  #catchingUp = false
  /**
   * The one CATCH_UP waiting for the running answer to end (WS-RELAY-11): a later one merges into it, so a socket
   * holds at most one answer under way and one waiting, however many frames it sends.
   */
  #nextCatchUp: { readonly cursor: number; readonly pageSize: number } | null = null

  constructor(
    socket: WorkspaceSocket,
    workspace: string,
    client: WorkspaceClient,
    host: WorkspaceSessionHost,
    whenDrained: (fn: () => void) => void,
  ) {
    this.#socket = socket
    this.workspace = workspace
    this.client = client
    this.#host = host
    this.#sender = new FairSender(socket, { whenDrained, maxBufferedBytes: host.maxBufferedBytes })
    this.#subscribes = new SubscribeQueue({
      join: (doc, deletions, held) => this.#join(doc, deletions, held),
      trackInput: (delta) => socket.trackInput(delta),
      bucket: host.subscribeBucket?.(client.clientAddress),
      burst: host.subscribeRate?.burst,
      perSecond: host.subscribeRate?.perSecond,
    })
  }

  get open(): boolean {
    return this.#socket.open
  }

  get logger(): Logger {
    return this.#socket.logger
  }

  /** Documents subscribed now. */
  get subscriptions(): number {
    return this.#docs.size
  }

  /** What the client may do with document `doc` of the workspace. */
  access(doc: string): Access {
    return this.client.grant.access(workspaceDocId(this.workspace, doc))
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    // WS-WIRE-2: a text frame, or bytes that are not a frame, close the socket as malformed (RELAY-5.1).
    if (!isBinary) return this.#socket.close(CloseCode.MalformedMessage, 'text frame on the workspace socket')
    const decoded = decodeWorkspaceFrame(data)
    if (!decoded.ok) return this.#socket.close(CloseCode.MalformedMessage, decoded.reason)
    this.#handle(decoded.frame)
  }

  onClose(): void {
    this.#nextCatchUp = null
    this.#subscribes.clear()
    this.#sender.clear()
    for (const doc of this.#docs.values()) doc.leave()
    this.#docs.clear()
    this.#host.left(this)
  }

  #handle(frame: WorkspaceFrame): void {
    switch (frame.kind) {
      case 'doc': {
        // A document refused a moment ago may still get the client's frames: they are dropped (WS-RELAY-3).
        const doc = this.#docs.get(frame.doc)
        const message = frame.message
        const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
        // WS-RELAY-12: a document waiting for its turn gets its messages then.
        if (!doc) this.#subscribes.hold(frame.doc, bytes)
        else doc.deliver(bytes)
        return
      }
      case 'subscribe':
        return this.#subscribe(frame.doc, frame.deletions)
      case 'unsubscribe': {
        // WS-RELAY-12: a document that waits for its turn leaves the queue without loading its room.
        if (this.#subscribes.cancel(frame.doc)) return
        const doc = this.#docs.get(frame.doc)
        if (!doc) return
        this.#docs.delete(frame.doc)
        this.#sender.drop(frame.doc)
        return doc.leave()
      }
      case 'catch-up': {
        // WS-RELAY-11: merged into the waiting one, from the lower cursor (its answer covers both).
        const waiting = this.#nextCatchUp
        const cursor = waiting ? Math.min(waiting.cursor, frame.cursor) : frame.cursor
        this.#nextCatchUp = { cursor, pageSize: frame.pageSize }
        if (!this.#catchingUp) void this.#answerCatchUps()
        return
      }
      default:
        // CHANGES, CHANGED and REFUSED go from the relay to the client only.
        return this.#socket.close(CloseCode.MalformedMessage, `a ${frame.kind} frame from a client`)
    }
  }

  /** Answers the waiting catch-up, then the one that waits after it, until none waits or the socket closed. */
  async #answerCatchUps(): Promise<void> {
    this.#catchingUp = true
    try {
      for (let ask = this.#nextCatchUp; ask && this.open; ask = this.#nextCatchUp) {
        this.#nextCatchUp = null
        await this.#host.catchUp(this, ask.cursor, ask.pageSize)
      }
    } catch (err) {
      this.#nextCatchUp = null
      this.logger.error({ err, workspace: this.workspace }, 'catch-up failed')
      this.#socket.close(CloseCode.InternalError, 'catch-up failed')
    } finally {
      this.#catchingUp = false
    }
  }

  #subscribe(doc: string, deletions: Uint8Array | null): void {
    if (this.#docs.has(doc) || this.#subscribes.has(doc)) return
    if (doc !== CATALOGUE_DOC && !isWorkspaceDocId(doc)) {
      return this.#refuse(doc, CloseCode.Forbidden, 'not a document id of a workspace')
    }
    if (this.#docs.size + this.#subscribes.size >= this.#host.maxSubscriptions) {
      return this.#refuse(doc, CloseCode.TooManyRooms, 'too many documents on this socket')
    }
    const room = workspaceDocId(this.workspace, doc)
    const access = this.client.grant.access(room)
    if (access === 'none') return this.#refuse(doc, CloseCode.Forbidden, 'document not granted')
    // WS-RELAY-12: joining loads the room (kept idleUnloadMs after its last member left): at a bounded rate.
    if (this.#subscribes.request(doc, deletions)) this.#join(doc, deletions, [])
  }

  /** Joins `doc`'s room (its SUBSCRIBE was admitted) and delivers what the client sent for it while it waited. */
  #join(doc: string, deletions: Uint8Array | null, held: readonly Buffer[]): void {
    if (!this.open) return
    const room = workspaceDocId(this.workspace, doc)
    // Decided again at its turn: a revalidation may have taken the document away meanwhile (RELAY-4.8).
    const access = this.client.grant.access(room)
    if (access === 'none') return this.#refuse(doc, CloseCode.Forbidden, 'document not granted')
    const socket = new DocSocket(doc, this, deletions)
    this.#docs.set(doc, socket)
    socket.member = this.#host.join(socket, room, access, this.#context(room, access))
    for (const message of held) socket.deliver(message)
  }

  /** What the hooks are told about this socket's member of `room`. */
  #context(room: string, access: Exclude<Access, 'none'>): ConnectionContext {
    const { grant, id, clientAddress } = this.client
    return { id, room, access, grant, subject: grant.subject, clientAddress }
  }

  /**
   * RELAY-4.8: a revalidation gave the socket `grant`. Each subscribed document whose access is gone is refused
   * (REFUSED with `AccessRevoked`; the socket stays open for the others); a member whose write access became `read`
   * is made read-only; every other member's hooks and rules see the new grant. Catch-ups and CHANGED pushes follow
   * the new grant from now on. Returns how many documents were refused and how many made read-only.
   */
  regrant(grant: RoomGrant): { readonly revoked: number; readonly downgraded: number } {
    this.client = { ...this.client, grant }
    let revoked = 0
    let downgraded = 0
    for (const [doc, socket] of [...this.#docs]) {
      const room = workspaceDocId(this.workspace, doc)
      const access = grant.access(room)
      if (access === 'none') {
        socket.close(CloseCode.AccessRevoked, 'access revoked')
        revoked++
        continue
      }
      const member = socket.member
      if (!member) continue
      // Access that grew (read to write) takes effect at the next SUBSCRIBE (RELAY-4.6).
      const effective = member.access === 'read' ? 'read' : access
      if (member.access === 'write' && effective === 'read') downgraded++
      this.#host.regrant(member, this.#context(room, effective))
    }
    return { revoked, downgraded }
  }

  #refuse(doc: string, code: number, reason: string): void {
    this.#sender.push(CONTROL, encodeRefused(doc, code, reason))
  }

  // ---- DocSocketCarrier

  sendDoc(doc: string, message: Uint8Array | SharedMessage): boolean {
    return this.#sender.push(doc, docFrame(doc, message))
  }

  refused(socket: DocSocket, code: number, reason: string): void {
    if (this.#docs.get(socket.doc) !== socket) return
    this.#docs.delete(socket.doc)
    // After what the document already queued: the client sees the refusal last.
    this.#sender.push(socket.doc, encodeRefused(socket.doc, code, reason))
  }

  trackInput(delta: number): void {
    this.#socket.trackInput(delta)
  }

  // ---- from the endpoint

  /** Pushes CHANGED (WS-RELAY-6); the caller checked that the client may read `doc`. */
  changed(doc: string, seq: number): void {
    this.#sender.push(CONTROL, encodeChanged(doc, seq))
  }

  /** Sends one CHANGES page and resolves once it is written to the socket (a catch-up's pages are paced). */
  changes(page: Parameters<typeof encodeChanges>[0], through: number, more: boolean): Promise<void> {
    if (!this.#sender.push(CONTROL, encodeChanges(page, through, more))) return Promise.resolve()
    return this.#sender.whenSent(CONTROL)
  }
}

/** `message` of document `doc` as a DOC frame; a shared message's frame is built once for every socket. */
const docFrame = (doc: string, message: Uint8Array | SharedMessage): Uint8Array | SharedMessage => {
  if (!(message instanceof SharedMessage)) {
    return new SharedMessage([encodeDocFrameHead(doc), message])
  }
  const frames = message.encoded(DOC_FRAMES, () => new Map<string, SharedMessage>())
  let frame = frames.get(doc)
  if (!frame) {
    frame = new SharedMessage([encodeDocFrameHead(doc), ...message.parts])
    frames.set(doc, frame)
  }
  return frame
}
