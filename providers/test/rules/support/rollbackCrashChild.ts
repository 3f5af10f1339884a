/**
 * The child of rollbackCrashProcess.test.ts: opens document `board` over the SQLite file argv[3] with the relay at
 * argv[2], waits until synced, inserts shape `bad` (x = 500, which the relay refuses), and holds back the relay's
 * `rejected` message, so it never rolls back. Once the refusal has arrived and the change is stored, it says
 * `refused` (IPC) and waits to be killed (SIGKILL): the store then holds a refused change that was never rolled back,
 * as when a process dies between a refusal and the storing of its rollback.
 */
import { SqliteDocStore } from '@weft/sqlite-store'
import { WebSocket } from 'ws'
import { openTyped } from '@weft/core'
import { decodeMessage } from '@weft/core/protocol'
import { WebSocketTransport, openDoc } from '../../../src/index.js'
import { xCapBoard } from './xCapBoard.js'

const typeOf = (data: Uint8Array): string | null => {
  try {
    return decodeMessage(data).type
  } catch {
    return null
  }
}

const [url, path] = process.argv.slice(2)
if (!url || !path) throw new Error('usage: rollbackCrashChild.ts <relay url> <sqlite path>')
const store = new SqliteDocStore({ path })
const relay = new WebSocketTransport({ url, room: 'board', WebSocketPolyfill: WebSocket })
let refused!: () => void
const refusal = new Promise<void>((resolve) => (refused = resolve))
// The relay's `rejected` message never reaches the session: the crash lands before the rollback.
const emit = relay.emit.bind(relay)
relay.emit = ((name: string, args: unknown[]) => {
  const event = args[0] as { data?: Uint8Array } | undefined
  if (name === 'message' && event?.data && typeOf(event.data) === 'rejected') return refused()
  emit(name as never, args as never)
}) as typeof relay.emit
const doc = await openDoc({ docId: 'board', store, relay })
await doc.whenSynced
openTyped(doc.doc, xCapBoard).root.shapes.insert({ x: 500 }, { id: 'bad' })
await refusal
await doc.handle.flushed()
process.send?.({ kind: 'refused', clientId: doc.doc.clientID })
setInterval(() => {}, 60_000) // alive until killed
