import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { FrameParser, type FrameSink } from './FrameParser.js'
import {
  Opcode,
  PING_FRAME,
  WsCloseCode,
  encodeClosePayload,
  encodeFrame,
  encodeFrameHeader,
  frameOf,
  TextFrame,
} from './frames.js'
import { SharedMessage } from '../relay/SharedMessage.js'

/** Payloads up to this size are copied behind their header and written once; larger ones are written as is. */
const COPY_LIMIT = 64 * 1024

const OWNER = Symbol('weft.ws')

interface OwnedSocket extends Duplex {
  [OWNER]?: WebSocketConnection
}

// One set of listener functions for every socket (no closures per connection): `this` is the socket.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]?.receive(chunk)
}
function onSocketEnd(this: OwnedSocket): void {
  // The peer half-closed without a close handshake: finish our side too (the server socket allows half-open).
  this.end()
}
/** An `error` listener that destroys the socket (a `close` follows); shared, so it costs no closure per socket. */
export function destroyOnError(this: Duplex): void {
  this.destroy()
}
function onSocketClose(this: OwnedSocket): void {
  const conn = this[OWNER]
  if (conn) conn.socketClosed()
}

/**
 * The server side of one WebSocket (RFC 6455) over a socket that completed the opening handshake
 * ({@link acceptWebSocket}). Lean by design: no event emitter, no stream in front of the parser, one set of shared
 * socket listeners, one object per connection plus its {@link FrameParser}. Subclasses implement the hooks.
 *
 * Sends are written straight to the socket (it buffers what the kernel does not take; `bufferedAmount` reports
 * that, for the caller's slow-consumer policy). A {@link SharedMessage} is written as its frame, built once for all
 * the sockets it is sent to ({@link frameOf}).
 * The close handshake: a close frame received is answered with one (same code) and the socket is ended; a close
 * sent by the server waits for the peer's (the caller bounds that wait with {@link WebSocketConnection.terminate}).
 */
export abstract class WebSocketConnection implements FrameSink {
  readonly #socket: OwnedSocket
  readonly #parser: FrameParser
  /** The negotiated subprotocol ('' when none). */
  readonly protocol: string
  #closeSent = false
  #closeReceived = false
  #closed = false
  #closeCode: number = WsCloseCode.Abnormal
  #closeReason = ''
  #paused = false

  constructor(socket: Duplex, protocol: string, maxPayload: number) {
    this.#socket = socket as OwnedSocket
    this.protocol = protocol
    this.#parser = new FrameParser(this, maxPayload)
  }

  /**
   * Starts reading: `head` holds bytes that arrived with the upgrade request. Call once; no hook runs before the
   * current call stack returns.
   */
  protected begin(head: Buffer): void {
    const socket = this.#socket
    socket[OWNER] = this
    const tcp = socket as Partial<Socket>
    tcp.setNoDelay?.(true)
    tcp.setTimeout?.(0)
    socket.on('end', onSocketEnd)
    if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError)
    socket.on('close', onSocketClose)
    if (socket.destroyed) {
      queueMicrotask(() => this.socketClosed())
      return
    }
    // Bytes that came with the request go back into the stream: parsed, like all others, only after this
    // constructor chain returned and the caller attached its handler.
    if (head.length > 0) socket.unshift(head)
    socket.on('data', onSocketData)
  }

  /** Bytes written to the socket that the kernel has not taken yet. */
  get bufferedAmount(): number {
    return this.#socket.writableLength
  }

  /** Whether the socket is gone ({@link WebSocketConnection.onClosed} ran or is running). */
  protected get closed(): boolean {
    return this.#closed
  }

  /** Whether a close frame was sent or received, or the socket is gone. */
  get closing(): boolean {
    return this.#closeSent || this.#closeReceived || this.#closed
  }

  /**
   * Sends one message: binary for bytes or a {@link SharedMessage}, text for a string or a {@link TextFrame}.
   * Returns false if the connection is closing.
   */
  protected sendMessage(data: Uint8Array | string | TextFrame | SharedMessage): boolean {
    if (this.closing) return false
    const socket = this.#socket
    if (typeof data === 'string') {
      socket.write(encodeFrame(Opcode.Text, Buffer.from(data, 'utf8')))
      return true
    }
    if (data instanceof TextFrame) {
      socket.write(data.frame)
      return true
    }
    if (data instanceof SharedMessage) socket.write(frameOf(data))
    else if (data.byteLength <= COPY_LIMIT) socket.write(encodeFrame(Opcode.Binary, data))
    else {
      socket.cork()
      socket.write(encodeFrameHeader(Opcode.Binary, data.byteLength))
      socket.write(data)
      socket.uncork()
    }
    return true
  }

  /** Sends a ping (heartbeat). */
  protected sendPing(): void {
    if (!this.closing) this.#socket.write(PING_FRAME)
  }

  /**
   * Starts the close handshake with `code` and `reason` (at most 123 bytes of it are sent). If the peer's close
   * frame already arrived, the socket is ended right away.
   */
  protected sendClose(code: number, reason: string): void {
    if (this.#closeSent || this.#closed) return
    this.#closeSent = true
    this.#closeCode = code
    this.#closeReason = reason
    // Only the peer's close frame matters from now on: data it still sends is skipped, not buffered (CONN-11.1).
    this.#parser.discardData()
    const socket = this.#socket
    socket.write(encodeFrame(Opcode.Close, encodeClosePayload(code, reason)))
    if (this.#closeReceived) socket.end()
  }

  /** Whether reading is paused ({@link WebSocketConnection.pauseReading}). */
  protected get readingPaused(): boolean {
    return this.#paused
  }

  /**
   * Backpressure (CONN-2): stops reading the socket and holds parsing after the frame being handled, so the
   * kernel's buffers fill and TCP slows the peer down. Nothing is dropped.
   */
  protected pauseReading(): void {
    if (this.#paused || this.#closed) return
    this.#paused = true
    this.#parser.hold()
    this.#socket.pause()
  }

  /** Parses what waited, then reads the socket again (unless a hook paused it again meanwhile). */
  protected resumeReading(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#parser.release()
    if (!this.#paused && !this.#closed) this.#socket.resume()
  }

  /** Payload bytes received into unfinished messages so far (monotonic; CONN-11.3 stall detection). */
  protected get partialProgress(): number {
    return this.#parser.progress
  }

  /** Cuts the socket without waiting for anything. */
  terminate(): void {
    this.#parser.stop()
    this.#socket.destroy()
  }

  /** @internal Bytes from the socket. */
  receive(chunk: Buffer): void {
    this.onReceived(chunk.length)
    this.#parser.push(chunk)
  }

  /** @internal The socket is gone. */
  socketClosed(): void {
    if (this.#closed) return
    this.#closed = true
    this.#parser.stop()
    const socket = this.#socket
    socket.off('data', onSocketData)
    socket[OWNER] = undefined
    this.onClosed(this.#closeCode, this.#closeReason)
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#closeReceived) return
    this.onWebSocketMessage(data, isBinary)
  }

  onPing(data: Buffer): void {
    if (this.closing) return
    this.#socket.write(encodeFrame(Opcode.Pong, data))
    this.onActivity()
  }

  onPong(): void {
    this.onActivity()
  }

  onCloseFrame(code: number, reason: string): void {
    this.#closeReceived = true
    this.#parser.stop()
    if (this.#closeSent) {
      this.#socket.end()
      return
    }
    // Answer with the same code (RFC 6455 §5.5.1); a close without a status is answered without one.
    this.#closeSent = true
    this.#closeCode = code
    this.#closeReason = reason
    const payload = code === WsCloseCode.NoStatus ? Buffer.alloc(0) : encodeClosePayload(code, '')
    this.#socket.write(encodeFrame(Opcode.Close, payload))
    this.#socket.end()
    this.onPeerClose(code, reason)
  }

  onProtocolError(code: number, reason: string): void {
    this.onWebSocketError(code, reason)
  }

  onHeldBytes(delta: number): void {
    this.onHeldBytesChanged(delta)
  }

  /** `bytes` arrived from the socket (about to be parsed): charged to the rate limit as they arrive (CONN-2). */
  protected abstract onReceived(bytes: number): void
  /** The parser's bytes held for an unfinished message grew or shrank by `delta` (CONN-11.1). */
  protected abstract onHeldBytesChanged(delta: number): void

  /** One complete data message. */
  protected abstract onWebSocketMessage(data: Buffer, isBinary: boolean): void
  /** The peer showed it is alive (a pong or a ping). */
  protected abstract onActivity(): void
  /** The peer started the close handshake (already answered). */
  protected abstract onPeerClose(code: number, reason: string): void
  /**
   * The peer broke the WebSocket protocol (`code`: 1002, 1007 or 1009); nothing more is parsed. The subclass
   * closes the connection.
   */
  protected abstract onWebSocketError(code: number, reason: string): void
  /** The socket is gone; called once. `code` is the close code sent or received, 1006 if none. */
  protected abstract onClosed(code: number, reason: string): void
}
