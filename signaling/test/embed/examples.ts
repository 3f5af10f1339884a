/**
 * The embedding examples of docs/guides/server.md ("Embedding in an existing server"), as the tests run them: the
 * code between the `example` markers is the guide's, word for word.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import express from 'express'
import { createWeftRelay, type WeftRelay, type WeftRelayOptions } from '@weft/signaling'

/** An app, its HTTP server (listening on a free loopback port) and the relay attached to it. */
export interface EmbeddingApp {
  readonly server: Server
  readonly relay: WeftRelay
  /** `ws://127.0.0.1:<port>/collab`, the relay's URL for a y-websocket client. */
  readonly relayUrl: string
  readonly http: string
  /** Closes the relay (flushing every update), then the app's server. */
  close(): Promise<void>
}

const listening = async (server: Server, relay: WeftRelay): Promise<EmbeddingApp> => {
  if (!server.listening) await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    server,
    relay,
    relayUrl: `ws://127.0.0.1:${port}/collab`,
    http: `http://127.0.0.1:${port}`,
    close: async () => {
      await relay.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The node:http example; `options` carries the store (and, in tests, a quiet logger); `port` 0 picks a free one. */
export const nodeHttpApp = async (options: WeftRelayOptions, port = 0): Promise<EmbeddingApp> => {
  // example: node:http
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('the app\n')
  })
  const relay = createWeftRelay({ ...options, path: '/collab' })
  relay.attach(server) // rooms at ws://<host>/collab/<room>; other upgrades are left to the app
  await relay.start() // opens the store now rather than at the first client
  server.listen(port, '127.0.0.1')
  // end example
  return listening(server, relay)
}

/** The Express example. */
export const expressApp = async (options: WeftRelayOptions, port = 0): Promise<EmbeddingApp> => {
  // example: express
  const app = express()
  app.get('/api/hello', (_req, res) => {
    res.json({ hello: 'world' })
  })
  const server = app.listen(port, '127.0.0.1') // a node:http Server
  const relay = createWeftRelay({ ...options, path: '/collab' })
  relay.attach(server)
  // end example
  return listening(server, relay)
}
