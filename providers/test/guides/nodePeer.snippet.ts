/**
 * The Node peer of docs/guides/getting-started.md ("Add Weft to an existing app"), as the guide shows it; run by
 * guides.snippets.test.ts against a real `weft serve`. Keep it in step with the guide.
 */
import { WebSocket } from 'ws'
import { openDoc, WebSocketTransport } from '@weft/providers'
import { SqliteDocStore } from '@weft/providers/node'

export async function nodePeer(relayUrl: string, path: string, line: string): Promise<string> {
  const store = new SqliteDocStore({ path }) // a file: the peer keeps its copy across restarts
  const handle = await openDoc({
    docId: 'notes',
    store,
    relay: new WebSocketTransport({ url: relayUrl, room: 'notes', WebSocketPolyfill: WebSocket }),
  })
  await handle.whenSynced // loaded, and in sync with the relay once
  const body = handle.doc.getText('body')
  body.insert(body.length, `${line}\n`)
  await handle.whenSaved() // the relay durably stored the change
  const text = body.toString()
  await handle.destroy()
  await store.close() // the handle leaves the store open: the caller owns it
  return text
}
