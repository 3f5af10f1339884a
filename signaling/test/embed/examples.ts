/**
 * The embedding examples of docs/guides/server.md ("Embedding in an existing server"), as the tests run them: the
 * code between the `example` markers is the guide's, word for word.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import express from 'express'
import { WebSocketServer } from 'ws'
import {
  createWeftRelay,
  RoomGrant,
  WsRelaySocket,
  type WeftRelay,
  type WeftRelayOptions,
} from '@weft/signaling'

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

/** Sessions of the bring-your-own example: a token names a user and the rooms it may write. */
export const byoSessions = new Map<string, { user: string; rooms: string[] }>([
  ['t-alice', { user: 'alice', rooms: ['notes'] }],
  ['t-bob', { user: 'bob', rooms: ['notes', 'todo'] }],
])

/** The bring-your-own-WebSocket-server example: the app's `ws` server hands authenticated sockets to the relay. */
export const byoWebSocketApp = async (options: WeftRelayOptions, port = 0): Promise<EmbeddingApp> => {
  const sessions = byoSessions
  // example: bring your own
  const server = createServer()
  const wss = new WebSocketServer({ noServer: true, maxPayload: 32 * 1024 * 1024 })
  const relay = createWeftRelay(options)
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = /^\/collab\/([\w-]{1,100})$/.exec(url.pathname)
    const session = sessions.get(url.searchParams.get('session') ?? '') // the app's own auth
    if (!match || !session) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
      return
    }
    const room = match[1] ?? ''
    const rooms = Object.fromEntries(session.rooms.map((r) => [r, 'write' as const]))
    wss.handleUpgrade(req, socket, head, (ws) => {
      relay.accept(new WsRelaySocket(ws), {
        room, // a room the grant does not name is closed with Forbidden
        grant: new RoomGrant(rooms, undefined, session.user),
        clientAddress: req.socket.remoteAddress,
      })
    })
  })
  await relay.start()
  server.listen(port, '127.0.0.1')
  // end example
  const app = await listening(server, relay)
  return {
    ...app,
    close: async () => {
      await app.close()
      wss.close()
    },
  }
}
