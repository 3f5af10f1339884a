// Runs in Chromium: two SyncSessions over a 16 KiB-limited MemoryTransport pair, a large update chunked across,
// a garbage frame rejected. Reports the outcome on window.result.
import * as Y from 'yjs'
import { SyncSession } from '@weft/core'
import { MemoryNetwork } from '@weft/core/testing'

const net = new MemoryNetwork()
const ta = net.transport('a', { maxMessageSize: 16 * 1024 })
const tb = net.transport('b', { maxMessageSize: 16 * 1024 })
net.link(ta, tb)
const a = new Y.Doc()
const b = new Y.Doc()
const sa = new SyncSession({ doc: a })
const sb = new SyncSession({ doc: b })
const errors: string[] = []
sb.on('error', ({ error }) => errors.push(error.code))
sa.addTransport(ta)
sb.addTransport(tb)
ta.connect()
tb.connect()
a.getText('t').insert(0, 'x'.repeat(1_000_000))
net.flush()
const chunkedOk = b.getText('t').length === 1_000_000
ta.send(Uint8Array.from([0, 2, 200, 1, 2]))
net.flush()
;(window as unknown as { result: unknown }).result = { chunkedOk, errors, synced: sb.synced }
