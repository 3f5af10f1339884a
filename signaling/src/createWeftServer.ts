import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import { AdmissionControl } from './admission/AdmissionControl.js'
import { ClientAddresses } from './admission/ClientAddresses.js'
import { Authenticator, type AuthOptions } from './auth/Authenticator.js'
import { AuthorizedSocket } from './auth/AuthorizedSocket.js'
import type { Access, RoomGrant } from './auth/RoomGrant.js'
import { extractToken, offeredProtocols, selectProtocol } from './auth/extractToken.js'
import {
  guardedSocketContext,
  heartbeatIntervalOf,
  type GuardedSocket,
  type GuardedSocketContext,
} from './connection/GuardedSocket.js'
import { InputBudget } from './connection/InputBudget.js'
import { serveStatic } from './http/serveStatic.js'
import { ServerMetrics, type Endpoint } from './metrics/ServerMetrics.js'
import { openRelayStore } from './relay/openRelayStore.js'
import { RelayHub } from './relay/RelayHub.js'
import type { RelayOptions } from './relay/RelayOptions.js'
import { DEFAULT_LIMITS, type ServerLimits } from './ServerLimits.js'
import { SignalingHub } from './signal/SignalingHub.js'
import { WeftServerError } from './WeftServerError.js'
import { acceptWebSocket, handshakeProblem, refuseUpgrade, refuseWebSocket } from './ws/acceptWebSocket.js'
import { destroyOnError } from './ws/WebSocketConnection.js'

/** Options of {@link createWeftServer}. Everything is optional; see docs/guides/server.md. */
export interface WeftServerOptions {
  /** Interface to listen on (default `127.0.0.1`: loopback only). */
  readonly host?: string | undefined
  /** Port to listen on (default 4444; `0` picks a free one). */
  readonly port?: number | undefined
  /** Directory whose files are served at `/` (the demo), or none. */
  readonly staticDir?: string | undefined
  /** JWT settings; without a secret or public key the server is open. */
  readonly auth?: AuthOptions | undefined
  /** Protection limits (each field defaults to {@link DEFAULT_LIMITS}). */
  readonly limits?: Partial<ServerLimits> | undefined
  /**
   * Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` header names the client, for the per-address
   * limits (`maxConnectionsPerIp`, `upgradesPerIpPerSecond`). Default: loopback only (`127.0.0.0/8`, `::1`, a proxy on
   * the same host); `[]` trusts none. Loopback clients themselves are not limited per address.
   */
  readonly trustedProxies?: readonly string[] | undefined
  /** The storing relay at `/relay/<room>`, or `false` for a signaling-only server. Needs a store or a dataDir. */
  readonly relay?: RelayOptions | false | undefined
  /** Structured logger (pino). Default: pino at level `info` on stdout. */
  readonly logger?: Logger | undefined
}

/** Where a {@link WeftServer} listens. */
export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** A Weft server: signaling, relay, health, metrics and static files on one HTTP port. */
export interface WeftServer {
  /** Opens the store (if any) and starts listening. */
  listen(): Promise<ListenAddress>
  /** Graceful shutdown: stops accepting, closes every connection with `ServerShutdown`, flushes, closes the store. */
  close(): Promise<void>
  /** The server's metrics (also served at `/metrics`). */
  readonly metrics: ServerMetrics
}

type Route = { readonly endpoint: 'signal' } | { readonly endpoint: 'relay'; readonly room: string }

const RELAY_PREFIX = '/relay/'

/**
 * Creates a Weft server (nothing listens until {@link WeftServer.listen}). Routes: `/signal` (y-webrtc signaling),
 * `/relay/<room>` (y-websocket relay with storage), `/healthz`, `/metrics`, and static files at `/`.
 */
export const createWeftServer = (options: WeftServerOptions = {}): WeftServer => {
  const logger = options.logger ?? pino({ name: 'weft' })
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits }
  const auth = new Authenticator(options.auth)
  const addresses = new ClientAddresses(options.trustedProxies)
  const admission = new AdmissionControl(limits)
  const relayOptions = options.relay === false ? null : (options.relay ?? {})
  if (relayOptions && !relayOptions.store && !relayOptions.dataDir) {
    throw new WeftServerError(
      'invalid-argument',
      'the relay needs a store or a dataDir (or pass relay: false)',
    )
  }

  // The first log line says whether anyone may connect.
  if (auth.required) {
    logger.info(
      { auth: auth.mode, algorithms: auth.algorithms },
      'auth required: every connection needs a JWT',
    )
  } else {
    logger.warn(
      { auth: 'open' },
      'auth is OPEN: no secret or public key configured, anyone may read and write every room',
    )
  }

  const signaling = new SignalingHub(limits)
  let relay: RelayHub | null = null
  const sockets = new Set<AuthorizedSocket>()
  const counts: Record<Endpoint, number> = { signal: 0, relay: 0 }
  let nextId = 1
  let state: 'idle' | 'listening' | 'closing' | 'closed' = 'idle'
  let heartbeat: NodeJS.Timeout | null = null
  const startedAt = Date.now()

  const metrics = new ServerMetrics({
    connections: () => [
      [{ endpoint: 'signal' }, counts.signal],
      [{ endpoint: 'relay' }, counts.relay],
    ],
    topics: () => signaling.topicCount,
    docsLoaded: () => relay?.docsLoaded ?? 0,
    relayRooms: () => relay?.roomCount ?? 0,
  })

  const onClosed = (conn: GuardedSocket) => {
    if (!(conn instanceof AuthorizedSocket) || !sockets.delete(conn)) return
    counts[conn.endpoint]--
    admission.release(conn.clientAddress)
  }
  // CONN-11.2: one budget for unfinished incoming messages, shared by both endpoints.
  const inputBudget = InputBudget.forServer(metrics, limits.maxPendingInputBytes)
  const contexts: Record<Endpoint, GuardedSocketContext> = {
    signal: guardedSocketContext('signal', limits, metrics, inputBudget, logger, onClosed),
    relay: guardedSocketContext('relay', limits, metrics, inputBudget, logger, onClosed),
  }
  const accepted: Record<Endpoint, { inc(): void }> = {
    signal: metrics.connectionsTotal.labels({ endpoint: 'signal' }),
    relay: metrics.connectionsTotal.labels({ endpoint: 'relay' }),
  }

  // CONN-12: a socket that never finishes its request headers is cut (Node's default waits 60 s, checked every 30 s).
  const http = createServer(
    { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
    (req, res) => {
      handleHttp(req, res).catch((err: unknown) => {
        logger.error({ err, url: req.url }, 'http handler failed')
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    },
  )
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch((err: unknown) => {
      logger.error({ err, url: req.url }, 'upgrade failed')
      socket.destroy()
    })
  })
  http.on('clientError', (_err, socket) => socket.destroy())

  const json = (res: ServerResponse, status: number, body: unknown) =>
    res
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      .end(JSON.stringify(body))

  const handleHttp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseUrl(req.url)
    if (!url) return void res.writeHead(400).end()
    const path = url.pathname
    if (path === '/healthz') {
      if (state !== 'listening') return void json(res, 503, { status: 'shutting-down' })
      return void json(res, 200, {
        status: 'ok',
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        connections: { signal: counts.signal, relay: counts.relay },
        relay: relay !== null,
        auth: auth.mode,
      })
    }
    if (path === '/metrics') {
      return void res.writeHead(200, { 'content-type': metrics.contentType }).end(metrics.render())
    }
    if (path === '/signal' || path === '/relay' || path.startsWith(RELAY_PREFIX)) {
      return void res
        .writeHead(426, { upgrade: 'websocket', 'content-type': 'text/plain' })
        .end('upgrade required\n')
    }
    if (options.staticDir) return serveStatic(options.staticDir, req, res, path)
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  }

  const route = (url: URL): Route | null => {
    if (url.pathname === '/signal' || url.pathname === '/signal/') return { endpoint: 'signal' }
    if (relay && url.pathname.startsWith(RELAY_PREFIX)) {
      let room: string
      try {
        room = decodeURIComponent(url.pathname.slice(RELAY_PREFIX.length))
      } catch {
        return null
      }
      if (room.length === 0 || room.length > limits.maxRoomNameLength) return null
      return { endpoint: 'relay', room }
    }
    return null
  }

  /**
   * One upgrade request. Cheap refusals come first (handshake, route, state, per-address limits, capacity), then the
   * token is verified; the connection is created only once every decision is final (AUTH-7), so no frame of it
   * (`head` included) is parsed before. A refused socket is never registered or counted and is cut without the close
   * grace (CONN-5).
   */
  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', destroyOnError)
    const problem = handshakeProblem(req)
    if (problem) {
      const version = problem.includes('Version')
      return refuseUpgrade(socket, version ? '426 Upgrade Required' : '400 Bad Request', version)
    }
    const url = parseUrl(req.url)
    const target = url ? route(url) : null
    if (!url || !target) return refuseUpgrade(socket, '404 Not Found')
    if (state !== 'listening') return refuseUpgrade(socket, '503 Service Unavailable')
    const client = addresses.of(req)
    const admitted = admission.admit(client)
    if (admitted !== 'ok') {
      logger.debug({ client, reason: admitted }, 'upgrade refused')
      return refuseUpgrade(socket, '429 Too Many Requests', false, ['Retry-After: 1'])
    }
    let conn: AuthorizedSocket | null = null
    try {
      conn = await open(req, socket, head, url, target, client)
    } finally {
      if (!conn) admission.release(client)
    }
  }

  /** Verifies the token and accepts the connection, or refuses it; returns the connection if accepted. */
  const open = async (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    target: Route,
    client: string,
  ): Promise<AuthorizedSocket | null> => {
    const offered = offeredProtocols(req)
    const protocol = selectProtocol(offered)
    const refuse = (code: CloseCode, reason: string): null => {
      metrics.countClose(code)
      logger.debug(
        { client, endpoint: target.endpoint, code, codeName: closeCodeName(code), reason },
        'connection refused',
      )
      refuseWebSocket(req, socket, protocol, code, reason)
      return null
    }
    // CONN-5: checked before the token (no verification work when full) and again after it.
    if (sockets.size >= limits.maxConnections) return refuse(CloseCode.ServerFull, 'server full')
    const result = await auth.authenticate(extractToken(url, offered))
    if (state !== 'listening' || socket.destroyed) {
      socket.destroy()
      return null
    }
    if (!result.ok) {
      const code = result.reason === 'token expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized
      return refuse(code, result.reason)
    }
    const grant = result.grant
    // AUTH-7: verification is asynchronous; the grant must still hold now, when the connection would start.
    if (grant.expired()) return refuse(CloseCode.TokenExpired, 'token expired')
    const access = target.endpoint === 'relay' ? grant.access(target.room) : null
    if (access === 'none') return refuse(CloseCode.Forbidden, 'room not granted')
    if (sockets.size >= limits.maxConnections) return refuse(CloseCode.ServerFull, 'server full')
    if (!acceptWebSocket(req, socket, protocol)) {
      socket.destroy()
      return null
    }
    const conn = new AuthorizedSocket(
      socket,
      head,
      protocol || '',
      nextId++,
      contexts[target.endpoint],
      grant,
      client,
    )
    sockets.add(conn)
    counts[target.endpoint]++
    accepted[target.endpoint].inc()
    try {
      start(conn, grant, target, access, client)
    } catch (err) {
      // The connection is registered: it is released once, when its socket is gone.
      logger.error({ err, conn: conn.id, endpoint: target.endpoint }, 'connection start failed')
      conn.terminate()
    }
    return conn
  }

  /** Hands an accepted connection to its route. */
  const start = (
    conn: AuthorizedSocket,
    grant: RoomGrant,
    target: Route,
    access: Exclude<Access, 'none'> | null,
    client: string,
  ): void => {
    // A child logger per connection costs memory: made only when debug lines are wanted (or the connection logs).
    const debug = logger.isLevelEnabled('debug')
    if (target.endpoint === 'signal' || access === null) {
      if (debug) conn.logger.debug({ endpoint: 'signal', sub: grant.subject, client }, 'connection opened')
      return signaling.accept(conn, grant)
    }
    if (debug) {
      conn.logger.debug(
        { endpoint: 'relay', room: target.room, access, sub: grant.subject, client },
        'connection opened',
      )
    }
    relay?.accept(conn, target.room, access)
  }

  const listen = async (): Promise<ListenAddress> => {
    if (state !== 'idle') throw new WeftServerError('invalid-argument', `listen() called while ${state}`)
    state = 'listening'
    if (relayOptions) {
      const { store, owned } = await openRelayStore(relayOptions)
      relay = new RelayHub({ store, ownsStore: owned, options: relayOptions, limits, metrics, logger })
    }
    const host = options.host ?? '127.0.0.1'
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(
          new WeftServerError('listen-failed', `cannot listen on ${host}:${options.port ?? 4444}`, {
            cause: err,
          }),
        )
      }
      http.once('error', onError)
      http.listen(options.port ?? 4444, host, () => {
        http.off('error', onError)
        resolve()
      })
    }).catch(async (err: unknown) => {
      state = 'closed'
      await relay?.close()
      throw err
    })
    admission.start()
    // CONN-3, RELAY-6.6: a sweep every interval; each connection decides from its silent sweeps. A sweep that comes
    // late (the event loop was busy) is skipped: what the peers sent meanwhile may not have been read yet. Never two
    // in a row: under a load that makes every tick late, the heartbeat must still find dead peers.
    const heartbeatMs = heartbeatIntervalOf(limits)
    let lastSweep = performance.now()
    let skipped = false
    heartbeat = setInterval(() => {
      const now = performance.now()
      const late = now - lastSweep > heartbeatMs * 1.5
      lastSweep = now
      skipped = late && !skipped
      if (!skipped) for (const s of sockets) s.heartbeat()
    }, heartbeatMs)
    heartbeat.unref()
    const address = http.address()
    const port = typeof address === 'object' && address ? address.port : (options.port ?? 4444)
    logger.info(
      { host, port, relay: relay !== null, static: options.staticDir ?? null, nodeFlags: process.execArgv },
      'listening',
    )
    return { host, port }
  }

  const close = async (): Promise<void> => {
    if (state === 'closing' || state === 'closed') return
    const wasListening = state === 'listening'
    state = 'closing'
    if (heartbeat) clearInterval(heartbeat)
    admission.stop()
    const httpClosed = wasListening
      ? new Promise<void>((resolve) => http.close(() => resolve()))
      : Promise.resolve()
    const allClosed = Promise.all(
      [...sockets].map((s) => new Promise<void>((resolve) => s.onceClosed(resolve))),
    )
    for (const s of sockets) s.close(CloseCode.ServerShutdown, 'server shutting down')
    await allClosed
    await relay?.close()
    http.closeAllConnections()
    await httpClosed
    state = 'closed'
    logger.info('closed')
  }

  return { listen, close, metrics }
}

const parseUrl = (raw: string | undefined): URL | null => {
  try {
    return new URL(raw ?? '/', 'http://localhost')
  } catch {
    return null
  }
}
