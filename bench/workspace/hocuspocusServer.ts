/**
 * The Hocuspocus baseline of the workspace benchmark: @hocuspocus/server, quiet, on 127.0.0.1 port 0, configured
 * for a workspace on one socket, with an in-memory store (the `onLoadDocument` / `onStoreDocument` hooks its
 * persistence guide shows). Prints `{"msg":"listening","port":N}` on stdout.
 *
 * The reconnect rounds of `--scale 0.1` hung on the plain server (bench/server/hocuspocusServer.ts), for two
 * reasons:
 * - Hocuspocus 4.8 closes a socket on which more than `maxPendingDocuments` (default 100) documents wait for
 *   authentication; the seeded device reconnects its 1,000 documents on one socket at once, so the server closed it,
 *   the provider reconnected, and so on forever: no document ever synced again. The limits are raised to the
 *   workspace's size.
 * - Hocuspocus unloads a document when its last connection leaves; with no extension its content is then gone. The
 *   seeded device is away while another device writes and leaves, so the server would come back empty and the
 *   round would wait forever for changes it no longer held. A deployed Hocuspocus keeps documents in a database;
 *   this keeps them in the server's memory (no I/O for it to pay).
 */
import * as Y from 'yjs'

interface DocumentHook {
  readonly documentName: string
  readonly document: Y.Doc
}

const { Server } = (await import('@hocuspocus/server' as string)) as {
  Server: new (options: {
    port: number
    address: string
    quiet: boolean
    stopOnSignals: boolean
    maxPendingDocuments: number
    maxUnauthenticatedQueueMessages: number
    maxUnauthenticatedQueueSize: number
    extensions: ReadonlyArray<{
      onLoadDocument(data: DocumentHook): Promise<void>
      onStoreDocument(data: DocumentHook): Promise<void>
    }>
  }) => { listen(): Promise<unknown>; readonly address: { readonly port: number } }
}

const stored = new Map<string, Uint8Array>()
const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  stopOnSignals: false,
  // One socket opens every document of the workspace at once, at seeding and at each reconnection: with the
  // defaults (100 pending documents, 1,000 queued messages, 5 MiB) the server closes that socket, the provider
  // reconnects, and the same happens again, forever.
  maxPendingDocuments: 1_000_000,
  maxUnauthenticatedQueueMessages: 10_000_000,
  maxUnauthenticatedQueueSize: 1024 * 1024 * 1024,
  extensions: [
    {
      onLoadDocument: async ({ documentName, document }) => {
        const state = stored.get(documentName)
        if (state) Y.applyUpdate(document, state)
      },
      onStoreDocument: async ({ documentName, document }) => {
        stored.set(documentName, Y.encodeStateAsUpdate(document))
      },
    },
  ],
})
await server.listen()
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address.port })}\n`)
