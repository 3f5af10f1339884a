import type { Logger } from 'pino'
import { CloseCode } from '@weft/core'
import type { RelayConnection } from '../relay/RelayConnection.js'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'
import type { SharedMessage } from '../relay/SharedMessage.js'
import { DeletionsTrim } from './DeletionsTrim.js'

/** What a {@link DocSocket} asks of the workspace socket it travels on. */
export interface DocSocketCarrier {
  /** Whether the workspace socket is open. */
  readonly open: boolean
  readonly logger: Logger
  /** Sends one of the document's messages as a DOC frame (queued fairly); false when nothing was queued. */
  sendDoc(doc: string, message: Uint8Array | SharedMessage): boolean
  /** The room closed the document's member with `code`: tell the client (REFUSED) and forget the subscription. */
  refused(socket: DocSocket, code: number, reason: string): void
  /** Charges held input bytes to the workspace socket (CONN-11). */
  trackInput(delta: number): void
}

/**
 * One subscribed document of a workspace socket, as the relay's room sees it: an ordinary {@link RelaySocket}
 * (WS-RELAY-2), so the room serves it exactly as a connection to `/relay/W/D` (auth, hooks, acks, epochs, presence,
 * read-only rules), while its bytes travel as DOC frames on the shared socket. A close by the room is a per-document
 * refusal (REFUSED); the workspace socket stays open.
 */
export class DocSocket implements RelaySocket {
  /** The document id inside the workspace (`D`). */
  readonly doc: string
  /** The room's member this socket carries (set once it joined; a revalidation regrants it, RELAY-4.8). */
  member: RelayConnection | null = null
  readonly #carrier: DocSocketCarrier
  #handler: RelaySocketHandler | null = null
  #open = true
  #gone = false
  /** Input bytes charged through this document (released when it leaves). */
  #heldInput = 0

  /** WS-WIRE-6: the room's step 2 leaves out deletions the client holds (SUBSCRIBE carried their digest). */
  readonly #trim: DeletionsTrim | null

  constructor(doc: string, carrier: DocSocketCarrier, deletions: Uint8Array | null = null) {
    this.doc = doc
    this.#carrier = carrier
    this.#trim = deletions ? new DeletionsTrim(deletions) : null
  }

  get open(): boolean {
    return this.#open && this.#carrier.open
  }

  get logger(): Logger {
    return this.#carrier.logger
  }

  attach(handler: RelaySocketHandler): void {
    this.#handler = handler
    if (this.#gone) this.#notifyClosed()
  }

  send(message: Uint8Array | SharedMessage): boolean {
    if (!this.open) return false
    return this.#carrier.sendDoc(this.doc, this.#trim ? this.#trim.outgoing(message) : message)
  }

  /** The room ends this member: a REFUSED frame for the document, then `onClose`. */
  close(code: number, reason: string): void {
    if (!this.open) return
    this.#open = false
    this.#carrier.refused(this, code, reason)
    this.leave()
  }

  trackInput(delta: number): void {
    // After leaving, what the member held was released at once (as a closed room socket does).
    if (this.#gone) return
    this.#heldInput += delta
    this.#carrier.trackInput(delta)
  }

  /** One per-document message from the client (the payload of a DOC frame). */
  deliver(message: Buffer): void {
    const handler = this.#handler
    if (!this.open || !handler) return
    try {
      const result = handler.onMessage(message, true)
      if (result) result.catch((err: unknown) => this.#internalError(err))
    } catch (err) {
      this.#internalError(err)
    }
  }

  /**
   * The member leaves (UNSUBSCRIBE, the workspace socket closed, or after a refusal): no more messages either way;
   * the room's `onClose` follows in a microtask, once.
   */
  leave(): void {
    this.#open = false
    if (this.#gone) return
    this.#gone = true
    if (this.#heldInput !== 0) this.#carrier.trackInput(-this.#heldInput)
    this.#heldInput = 0
    if (this.#handler) this.#notifyClosed()
  }

  #notifyClosed(): void {
    const handler = this.#handler
    this.#handler = null
    if (!handler) return
    queueMicrotask(() => {
      try {
        handler.onClose()
      } catch (err) {
        this.logger.error({ err, doc: this.doc }, 'close handler failed')
      }
    })
  }

  #internalError(err: unknown): void {
    this.logger.error({ err, doc: this.doc }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }
}
