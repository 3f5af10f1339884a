/**
 * @y/websocket-server 0.1.1 as its own README runs it: `setupWSConnection` on a ws server behind node:http, no
 * persistence (its default: documents live in memory only). Listens on 127.0.0.1, port 0, and prints
 * `{"msg":"listening","port":N}` on stdout.
 */
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
const http = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('okay'))
http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
})
http.listen(0, '127.0.0.1', () => {
  const address = http.address()
  const port = typeof address === 'object' && address ? address.port : 0
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`)
})
