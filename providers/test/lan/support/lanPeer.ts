/**
 * A LAN peer process for LanTransport.netns.test.ts, run inside a network namespace:
 *   node --conditions=source --import tsx lanPeer.ts '<json options>'
 * It opens a SyncSession over a LanTransport with real mDNS discovery (BonjourDiscovery on `host`), inserts `word`
 * into the text `t`, and reports one JSON object per line on stdout: `listening`, `joined`, `left`, `text` (every
 * change), `converged` (once the text holds every word of `expect`), `error`. Commands on stdin, one per line:
 * `append <text>` and `quit` (disconnect, withdraw the mDNS advertisement, exit 0).
 */
import { createInterface } from 'node:readline'
import { SyncSession } from '@weft/core'
import * as Y from 'yjs'
import { LanTransport } from '../../../src/lan/index.js'

interface PeerOptions {
  readonly room: string
  readonly peerId: string
  readonly host: string
  readonly word: string
  readonly expect: readonly string[]
  readonly secret?: string
}

const options = JSON.parse(process.argv[2] ?? '{}') as PeerOptions
const report = (event: string, payload: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, peer: options.peerId, ...payload })}\n`)
}

const doc = new Y.Doc()
const text = doc.getText('t')
const transport = new LanTransport({
  room: options.room,
  peerId: options.peerId,
  host: options.host,
  ...(options.secret === undefined ? {} : { secret: options.secret }),
  peerTimeout: 1500,
  handshakeTimeout: 1500,
  minReconnectMs: 100,
  maxReconnectMs: 800,
})
const session = new SyncSession({ doc })
session.addTransport(transport)

transport.on('peer-joined', ({ peer }) => report('joined', { remote: peer }))
transport.on('peer-left', ({ peer, reason }) => report('left', { remote: peer, reason }))
transport.on('error', ({ error }) => report('error', { code: error.code, message: error.message }))
session.on('error', ({ error }) => report('error', { code: error.code, message: error.message }))

let converged = false
text.observe(() => {
  const now = text.toString()
  report('text', { text: now })
  if (!converged && options.expect.every((w) => now.includes(w))) {
    converged = true
    report('converged', { text: now })
  }
})
text.insert(0, `${options.word} `)

await transport.connect()
report('listening', { port: transport.port })

const quit = async (): Promise<void> => {
  transport.disconnect()
  await transport.whenStopped()
  session.destroy()
  transport.destroy()
  report('stopped')
  process.exit(0)
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.startsWith('append ')) text.insert(text.length, line.slice('append '.length))
  else if (line === 'quit') void quit()
})
