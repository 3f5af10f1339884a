import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { Opcode, encodeClosePayload, encodeFrame } from './frames.js'

/** The GUID of RFC 6455 §1.3, appended to the client's key. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/

/** The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2). */
export const acceptKey = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64')

/** Why an upgrade request is not a valid WebSocket opening handshake, or `null` if it is. */
export const handshakeProblem = (req: IncomingMessage): string | null => {
  if (req.method !== 'GET') return 'method must be GET'
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'Upgrade must be websocket'
  if (req.headers['sec-websocket-version'] !== '13') return 'unsupported Sec-WebSocket-Version'
  const key = req.headers['sec-websocket-key']
  if (typeof key !== 'string' || !KEY.test(key.trim())) return 'invalid Sec-WebSocket-Key'
  return null
}

/**
 * Answers a refused upgrade with a plain HTTP status and ends the socket. A version problem gets
 * `Sec-WebSocket-Version: 13` so that the client knows what to offer.
 */
export const refuseUpgrade = (
  socket: Duplex,
  status: string,
  versionHint = false,
  extraHeaders: readonly string[] = [],
): void => {
  if (!socket.writable) return void socket.destroy()
  const extra = [...(versionHint ? ['Sec-WebSocket-Version: 13'] : []), ...extraHeaders]
    .map((line) => `${line}\r\n`)
    .join('')
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`)
  discardUntilGone(socket, REFUSED_LINGER_MS)
}

/**
 * How long a refused socket may stay half-open after the server's last bytes, waiting for the client's FIN (which
 * ends it at once), before it is cut. Refused sockets count against no limit; this only bounds how long a client
 * that never answers can hold one.
 */
export const REFUSED_LINGER_MS = 1_000

/**
 * Refuses a connection after completing the opening handshake, so that a browser sees the close code (it hides
 * the status of a refused upgrade): writes the 101 response and a close frame with `code` and `reason` in one
 * write, ends the socket and discards whatever the client sends (frames pipelined behind the request included: none
 * is parsed). The socket is cut when the client ends its side or after `lingerMs`, without the close grace of an
 * accepted connection. Nothing of it is registered anywhere.
 */
export const refuseWebSocket = (
  req: IncomingMessage,
  socket: Duplex,
  protocol: string | false,
  code: number,
  reason: string,
  lingerMs: number = REFUSED_LINGER_MS,
): void => {
  if (!socket.writable || socket.destroyed) return void socket.destroy()
  socket.end(
    Buffer.concat([
      Buffer.from(handshakeResponse(req, protocol), 'latin1'),
      encodeFrame(Opcode.Close, encodeClosePayload(code, reason)),
    ]),
  )
  discardUntilGone(socket, lingerMs)
}

/** Reads and drops everything the client still sends (so the kernel never answers it with a reset), cut later. */
const discardUntilGone = (socket: Duplex, lingerMs: number): void => {
  socket.resume()
  const timer = setTimeout(() => socket.destroy(), lingerMs)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

const handshakeResponse = (req: IncomingMessage, protocol: string | false): string => {
  const key = (req.headers['sec-websocket-key'] ?? '').trim()
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
  ]
  if (protocol !== false) lines.push(`Sec-WebSocket-Protocol: ${protocol}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/**
 * Completes the opening handshake of a request that passed {@link handshakeProblem}: writes the 101 response with
 * `Sec-WebSocket-Accept` and the chosen subprotocol (`false`: none). No extension is ever accepted (so
 * permessage-deflate is never on). Returns `false` if the socket is already gone.
 */
export const acceptWebSocket = (req: IncomingMessage, socket: Duplex, protocol: string | false): boolean => {
  if (!socket.writable || socket.destroyed) return false
  socket.write(handshakeResponse(req, protocol))
  return true
}
