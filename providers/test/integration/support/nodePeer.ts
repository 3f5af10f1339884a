/**
 * A Node peer in its own process: openDoc over a SqliteDocStore and a WebSocketTransport to the relay. Driven by
 * lines on stdin, answers with JSON lines on stdout:
 *   open <online:0|1>   -> {"event":"opened","pending":n,"text":...}
 *   edit <text>         -> {"event":"edited","pending":n}   (after the edit is durable in the local store)
 *   online              -> connects; {"event":"synced","pending":0,"text":...} once synced and every change saved
 * Usage: nodePeer.ts <relayUrl> <room> <sqlite path>
 */
import { createInterface } from 'node:readline'
import { WebSocket } from 'ws'
import { SqliteDocStore } from '@weft/sqlite-store'
import { openDoc, WebSocketTransport, type WeftDoc } from '../../../src/index.js'

const [relayUrl, room, path] = process.argv.slice(2) as [string, string, string]
const store = new SqliteDocStore({ path })
let handle: WeftDoc | null = null
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`)

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  void (async () => {
    const [cmd, ...rest] = line.split(' ')
    if (cmd === 'open') {
      const relay = new WebSocketTransport({
        url: relayUrl,
        room,
        WebSocketPolyfill: WebSocket,
        minReconnectMs: 20,
      })
      handle = await openDoc({ docId: room, store, relay, connect: rest[0] === '1' })
      say({ event: 'opened', pending: handle.pendingChanges, text: handle.doc.getText('t').toString() })
    } else if (cmd === 'edit' && handle) {
      handle.doc.getText('t').insert(handle.doc.getText('t').length, rest.join(' '))
      await handle.persistence?.flushed()
      say({ event: 'edited', pending: handle.pendingChanges })
    } else if (cmd === 'online' && handle) {
      const h = handle
      h.connect()
      await h.whenSynced
      await h.whenSaved()
      say({ event: 'synced', pending: h.pendingChanges, text: h.doc.getText('t').toString() })
    }
  })()
})
