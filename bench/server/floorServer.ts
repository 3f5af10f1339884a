/**
 * The floor of the fan-out workload: the least a Node server must do to pass it, to show how low "server CPU per
 * delivered update" can go on this machine. Not a usable server: no validation, no storage, no document state, no
 * limits, no heartbeats, no close handshake. It completes the WebSocket handshake on node:http's `upgrade`, parses
 * masked client frames (single-frame messages only, as y-websocket sends them), answers a sync step 1 with an empty
 * sync step 2 (what a fresh document holds, so the client reports synced), and writes every other message, framed
 * once, to the other sockets of the room (awareness also back to its sender, as y-websocket's server does).
 * Listens on 127.0.0.1, port 0, and prints `{"msg":"listening","port":N}` on stdout.
 */
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** Sync step 2 carrying an empty update (`[0, 0]`): message type 0, sync type 1, length 2. */
const EMPTY_STEP2 = Buffer.from([0x82, 5, 0, 1, 2, 0, 0])

const rooms = new Map<string, Set<Socket>>()
const pending = new WeakMap<Socket, Buffer>()
const roomOf = new WeakMap<Socket, Set<Socket>>()

const frame = (payload: Buffer): Buffer => {
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x82, n]) : Buffer.from([0x82, 126, n >> 8, n & 0xff])
  if (n >= 0x10000) throw new Error('floor server: message too large')
  return Buffer.concat([head, payload])
}

const onMessage = (socket: Socket, payload: Buffer): void => {
  const room = roomOf.get(socket)
  if (!room) return
  if (payload[0] === 0 && payload[1] === 0) return void socket.write(EMPTY_STEP2)
  const out = frame(payload)
  const awareness = payload[0] === 1
  for (const peer of room) if (awareness || peer !== socket) peer.write(out)
}

function onData(this: Socket, chunk: Buffer): void {
  let buf = pending.has(this) ? Buffer.concat([pending.get(this) as Buffer, chunk]) : chunk
  pending.delete(this)
  for (;;) {
    if (buf.length < 2) break
    const len7 = (buf[1] as number) & 0x7f
    const hl = len7 < 126 ? 6 : len7 === 126 ? 8 : 14
    if (buf.length < hl) break
    const length = len7 < 126 ? len7 : len7 === 126 ? buf.readUInt16BE(2) : Number(buf.readBigUInt64BE(2))
    if (buf.length < hl + length) break
    const opcode = (buf[0] as number) & 0x0f
    const mask = buf.subarray(hl - 4, hl)
    const payload = Buffer.from(buf.subarray(hl, hl + length))
    for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number)
    if (opcode === 0x2) onMessage(this, payload)
    else if (opcode === 0x8) return void this.end()
    buf = buf.subarray(hl + length)
  }
  if (buf.length > 0) pending.set(this, Buffer.from(buf))
}

function onClose(this: Socket): void {
  roomOf.get(this)?.delete(this)
}

const http = createServer((_req, res) => res.writeHead(404).end())
http.on('upgrade', (req, socket: Socket, head: Buffer) => {
  const key = String(req.headers['sec-websocket-key'] ?? '')
  const accept = createHash('sha1')
    .update(key + GUID)
    .digest('base64')
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  )
  socket.setNoDelay(true)
  const name = (req.url ?? '/').slice(1)
  let room = rooms.get(name)
  if (!room) rooms.set(name, (room = new Set()))
  room.add(socket)
  roomOf.set(socket, room)
  socket.on('data', onData)
  socket.on('close', onClose)
  socket.on('error', () => socket.destroy())
  if (head.length > 0) onData.call(socket, head)
})
http.listen(0, '127.0.0.1', () => {
  const address = http.address()
  const port = typeof address === 'object' && address ? address.port : 0
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`)
})
