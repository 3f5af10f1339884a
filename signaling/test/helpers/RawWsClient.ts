import { connect, type Socket } from 'node:net'
import { once } from 'node:events'

/** One frame the server sent (servers never mask). */
export interface ServerFrame {
  readonly fin: boolean
  readonly opcode: number
  readonly payload: Buffer
}

/** A response to a handshake: status line and headers (lower-case names). */
export interface HandshakeResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
}

/** A masked client frame with arbitrary header bits, for protocol tests. */
export const maskedFrame = (
  opcode: number,
  payload: Uint8Array,
  { fin = true, rsv = 0, masked = true, key = 0x1a2b3c4d } = {},
): Buffer => {
  const len = payload.byteLength
  const ext = len < 126 ? 0 : len < 0x10000 ? 2 : 8
  const out = Buffer.alloc(2 + ext + (masked ? 4 : 0) + len)
  out[0] = (fin ? 0x80 : 0) | rsv | opcode
  out[1] = (masked ? 0x80 : 0) | (len < 126 ? len : len < 0x10000 ? 126 : 127)
  if (ext === 2) out.writeUInt16BE(len, 2)
  if (ext === 8) {
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2)
    out.writeUInt32BE(len >>> 0, 6)
  }
  const at = 2 + ext + (masked ? 4 : 0)
  if (masked) out.writeUInt32BE(key, 2 + ext)
  for (let i = 0; i < len; i++) {
    const m = masked ? (key >>> (24 - 8 * (i & 3))) & 0xff : 0
    out[at + i] = (payload[i] ?? 0) ^ m
  }
  return out
}

/**
 * A WebSocket client on a raw TCP socket, for tests of the server's protocol handling: sends any bytes, reads the
 * handshake response and the server's frames one at a time, and reports when the server ends the connection.
 */
export class RawWsClient {
  readonly socket: Socket
  /** Resolves when the server ended or closed the TCP connection. */
  readonly ended: Promise<void>
  #buffer = Buffer.alloc(0)
  #wake: (() => void) | null = null

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      this.#wake?.()
    })
    this.ended = new Promise((resolve) => {
      socket.on('end', () => resolve())
      socket.on('close', () => resolve())
    })
    this.ended.then(
      () => this.#wake?.(),
      () => undefined,
    )
    socket.on('error', () => undefined)
  }

  /** Opens a TCP connection and sends `request` (a full HTTP request head). */
  static async connect(port: number, request: string): Promise<RawWsClient> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const client = new RawWsClient(socket)
    socket.write(request)
    return client
  }

  /** An opening handshake for `path` with the sample key of RFC 6455 and extra header lines. */
  static request(path: string, extra: readonly string[] = [], key = 'dGhlIHNhbXBsZSBub25jZQ=='): string {
    return [
      `GET ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      ...extra,
      '',
      '',
    ].join('\r\n')
  }

  async #waitFor(bytes: number | (() => number)): Promise<boolean> {
    const need = () => (typeof bytes === 'number' ? bytes : bytes())
    while (this.#buffer.length < need()) {
      if (this.socket.readableEnded || this.socket.destroyed) return false
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = null
    }
    return true
  }

  /** The handshake response (status and headers). */
  async response(): Promise<HandshakeResponse> {
    const end = () => {
      const at = this.#buffer.indexOf('\r\n\r\n')
      return at < 0 ? Number.MAX_SAFE_INTEGER : at + 4
    }
    if (!(await this.#waitFor(end))) throw new Error('connection ended before a response')
    const size = end()
    const [statusLine = '', ...lines] = this.#buffer
      .subarray(0, size - 4)
      .toString('latin1')
      .split('\r\n')
    this.#buffer = this.#buffer.subarray(size)
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    return { status: Number(statusLine.split(' ')[1]), headers }
  }

  /** The next frame from the server, or `null` once the connection ended without one. */
  async frame(): Promise<ServerFrame | null> {
    if (!(await this.#waitFor(2))) return null
    const b1 = this.#buffer[1] ?? 0
    const len7 = b1 & 0x7f
    const hl = len7 < 126 ? 2 : len7 === 126 ? 4 : 10
    if (!(await this.#waitFor(hl))) return null
    const len =
      len7 < 126
        ? len7
        : len7 === 126
          ? this.#buffer.readUInt16BE(2)
          : this.#buffer.readUInt32BE(2) * 2 ** 32 + this.#buffer.readUInt32BE(6)
    if (!(await this.#waitFor(hl + len))) return null
    const b0 = this.#buffer[0] ?? 0
    const frame = { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: this.#buffer.subarray(hl, hl + len) }
    this.#buffer = this.#buffer.subarray(hl + len)
    return frame
  }

  /** The next frame with `opcode` (others are skipped), or `null`. */
  async frameOf(opcode: number): Promise<ServerFrame | null> {
    for (;;) {
      const frame = await this.frame()
      if (!frame || frame.opcode === opcode) return frame
    }
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  destroy(): void {
    this.socket.destroy()
  }
}
