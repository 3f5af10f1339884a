/**
 * The child of pendingCrashProcess.test.ts: opens workspace `team` over the SQLite file argv[2] with a relay it
 * never connects to, creates document x, opens it, edits it, waits until the edit and the bookkeeping are stored,
 * says `ready` (IPC) and waits to be killed with x still open (SIGKILL: no close, no destroy).
 */
import { SqliteDocStore } from '@weft/sqlite-store'
import { WebSocket } from 'ws'
import { WorkspaceSocket, openWorkspace } from '../../../src/index.js'

const path = process.argv[2]
if (!path) throw new Error('usage: pendingCrashChild.ts <sqlite path>')
const store = new SqliteDocStore({ path })
const ws = await openWorkspace({
  id: 'team',
  store,
  relay: new WorkspaceSocket({
    url: 'ws://127.0.0.1:1',
    workspace: 'team',
    store,
    WebSocketPolyfill: WebSocket,
  }),
  connect: false,
})
ws.create({ id: 'x', title: 'X' })
const x = await ws.open('x')
x.doc.getText('t').insert(0, 'offline edit')
await x.handle.flushed()
await ws.catalogue.handle.flushed()
await ws.flushed()
process.send?.({ kind: 'ready', pendingChanges: ws.pendingChanges })
setInterval(() => {}, 60_000) // alive until killed
