import WebSocket from 'ws'
import * as Y from 'yjs'
import {
  decodeMessage,
  decodeWorkspaceFrame,
  encodeCatchUp,
  encodeDocFrame,
  encodeSubscribe,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  encodeUnsubscribe,
  type Hello,
  type WorkspaceFrame,
} from '@weft/core/protocol'

/** One frame received, in arrival order. */
export interface Received {
  readonly frame: WorkspaceFrame
  readonly index: number
}

/**
 * A bare client of the workspace endpoint over the `ws` package: one Y.Doc per subscribed document, synced with the
 * per-document protocol carried in DOC frames (a stock step 1, or one with a Weft hello), and every frame kept in
 * order for assertions. Waits are on frames, never on time.
 */
export class WorkspaceTestClient {
  readonly ws: WebSocket
  readonly frames: Received[] = []
  readonly docs = new Map<string, Y.Doc>()
  /** Resolves with the close code once the socket closed. */
  readonly closed: Promise<number>
  #waiters: Array<() => void> = []

  private constructor(ws: WebSocket) {
    this.ws = ws
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)))
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => this.#receive(new Uint8Array(data)))
    ws.on('close', () => this.#wake())
  }

  /** Opens `url` (`ws://host/workspace/W?token=...`) and resolves once the socket is open. */
  static open(url: string): Promise<WorkspaceTestClient> {
    const ws = new WebSocket(url)
    const client = new WorkspaceTestClient(ws)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client))
      ws.once('error', reject)
    })
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes)
  }

  /**
   * Subscribes to `doc` and starts its sync: a step 1 of the local Y.Doc (with `hello`, a Weft peer's), local edits
   * sent as updates. `deletions`: the digest SUBSCRIBE carries (WS-WIRE-6).
   */
  subscribe(doc: string, hello?: Hello, deletions?: Uint8Array): Y.Doc {
    const ydoc = this.docs.get(doc) ?? new Y.Doc()
    if (!this.docs.has(doc)) {
      this.docs.set(doc, ydoc)
      ydoc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin !== this && this.ws.readyState === WebSocket.OPEN) {
          this.send(encodeDocFrame(doc, encodeSyncUpdate(update)))
        }
      })
    }
    this.send(encodeSubscribe(doc, deletions))
    this.send(encodeDocFrame(doc, encodeSyncStep1(Y.encodeStateVector(ydoc), hello)))
    return ydoc
  }

  unsubscribe(doc: string): void {
    this.send(encodeUnsubscribe(doc))
  }

  catchUp(cursor: number, pageSize = 100): void {
    this.send(encodeCatchUp(cursor, pageSize))
  }

  /** Resolves with the first frame received (from `from` on) that `match` accepts. */
  async next(match: (frame: WorkspaceFrame) => boolean, from = 0): Promise<Received> {
    for (;;) {
      const found = this.frames.slice(from).find((r) => match(r.frame))
      if (found) return found
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame')
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /** Resolves once the relay's sync step 2 of `doc` arrived (the local Y.Doc holds the stored state). */
  async synced(doc: string): Promise<Y.Doc> {
    await this.next(
      (f) => f.kind === 'doc' && f.doc === doc && decodeMessage(f.message).type === 'sync-step2',
    )
    return this.docs.get(doc) as Y.Doc
  }

  /** Resolves once `match` holds (checked after each frame). */
  async until(match: () => boolean): Promise<void> {
    while (!match()) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting')
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /** Resolves once the text `t` of `doc` reads `expected`. */
  text(doc: string, expected: string): Promise<void> {
    const ydoc = this.docs.get(doc)
    if (!ydoc) throw new Error(`not subscribed to ${doc}`)
    return this.until(() => ydoc.getText('t').toString() === expected)
  }

  close(): Promise<number> {
    this.ws.close()
    return this.closed
  }

  #receive(data: Uint8Array): void {
    const decoded = decodeWorkspaceFrame(data)
    if (!decoded.ok) throw new Error(`the relay sent a malformed frame: ${decoded.reason}`)
    const frame = decoded.frame
    this.frames.push({ frame, index: this.frames.length })
    if (frame.kind === 'doc') this.#docMessage(frame.doc, frame.message)
    this.#wake()
  }

  #docMessage(doc: string, bytes: Uint8Array): void {
    const ydoc = this.docs.get(doc)
    if (!ydoc) return
    const message = decodeMessage(bytes)
    switch (message.type) {
      case 'sync-step1':
        this.send(encodeDocFrame(doc, encodeSyncStep2(Y.encodeStateAsUpdate(ydoc, message.stateVector))))
        return
      case 'sync-step2':
      case 'sync-update':
        Y.applyUpdate(ydoc, message.update, this)
        return
      default:
        return
    }
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
