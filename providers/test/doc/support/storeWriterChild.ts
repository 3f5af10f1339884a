/**
 * The child of twoWriters.test.ts: one writer of a shared SQLite file (argv[2]) that opens document argv[4] with the
 * relay at argv[3] and then does what the parent says over IPC: `edit` (append `text` `n` times, stored),
 * `offline` (disconnect from the relay), `saved` (wait until the relay stored every change). Each reply carries the
 * doc's client id and pending count. It never closes anything: the parent kills it (SIGKILL).
 */
import { SqliteDocStore } from '@weft/sqlite-store'
import { WebSocket } from 'ws'
import { WebSocketTransport, openDoc } from '../../../src/index.js'

const [path, url, room] = process.argv.slice(2)
if (!path || !url || !room) throw new Error('usage: storeWriterChild.ts <sqlite path> <relay url> <doc>')
const store = new SqliteDocStore({ path })
const d = await openDoc({
  docId: room,
  store,
  relay: new WebSocketTransport({ url, room, WebSocketPolyfill: WebSocket }),
})
const reply = () => process.send?.({ clientId: d.doc.clientID, pending: d.pendingChanges })
process.on('message', (m: { cmd: string; text?: string; n?: number }) => {
  void (async () => {
    if (m.cmd === 'edit') {
      const t = d.doc.getText('t')
      for (let i = 0; i < (m.n ?? 1); i++) t.insert(t.length, m.text ?? 'x')
      await d.handle.flushed()
    } else if (m.cmd === 'offline') d.disconnect()
    else if (m.cmd === 'saved') await d.whenSaved()
    reply()
  })()
})
await d.whenSaved()
reply()
