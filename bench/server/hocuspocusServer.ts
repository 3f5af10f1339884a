/**
 * @hocuspocus/server 4.7 with no extensions (documents live in memory only), quiet, on 127.0.0.1 port 0. Prints
 * `{"msg":"listening","port":N}` on stdout.
 */
import { loadHocuspocusServer } from './hocuspocus.js'

const { Server } = await loadHocuspocusServer()
const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  stopOnSignals: false,
  extensions: [],
})
await server.listen()
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address.port })}\n`)
