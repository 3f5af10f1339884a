import { stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRelayCore, parseUrl, type WeftServiceOptions } from './createWeftRelay.js'
import { serveStatic } from './http/serveStatic.js'
import type { ServerMetrics } from './metrics/ServerMetrics.js'
import type { RelayOptions } from './relay/RelayOptions.js'
import type { RevalidateFilter, RevalidateResult } from './relay/revalidate.js'
import type { ScaleOutHealth } from './scaleout/ScaleOutRelay.js'
import { DEFAULT_LIMITS, type ServerLimits } from './ServerLimits.js'
import { WeftServerError } from './WeftServerError.js'
import { workspacePrefixOf } from './workspace/WorkspaceEndpoint.js'

/** Options of {@link createWeftServer}. Everything is optional; see docs/guides/server.md. */
export interface WeftServerOptions extends WeftServiceOptions {
  /** Interface to listen on (default `127.0.0.1`: loopback only). */
  readonly host?: string | undefined
  /** Port to listen on (default 4444; `0` picks a free one). */
  readonly port?: number | undefined
  /** Directory whose files are served at `/` (the demo), or none. `listen()` rejects if it is not a directory. */
  readonly staticDir?: string | undefined
  /** The storing relay at `/relay/<room>`, or `false` for a signaling-only server. Needs a store or a dataDir. */
  readonly relay?: RelayOptions | false | undefined
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
  /**
   * Decides again what the open connections `filter` matches may do and applies it at once: access gone closes with
   * `AccessRevoked` (4406), `write` become `read` makes the connection read-only (RELAY-4.5 to 4.9). As
   * `WeftRelay.revalidate`; see "Revoking access" in docs/guides/server.md.
   */
  revalidate(filter?: RevalidateFilter): Promise<RevalidateResult>
  /** The server's metrics (also served at `/metrics`). */
  readonly metrics: ServerMetrics
}

const RELAY_PREFIX = '/relay/'

/** Scale-out: PostgreSQL and Redis both answer (HTTP-1.1). */
const healthy = (h: ScaleOutHealth): boolean => h.store === 'ok' && h.bus === 'ok'

const isDirectory = async (path: string): Promise<boolean> =>
  (await stat(path).catch(() => null))?.isDirectory() === true

/**
 * Creates a Weft server (nothing listens until {@link WeftServer.listen}). Routes: `/signal` (y-webrtc signaling),
 * `/relay/<room>` (y-websocket relay with storage), `/healthz`, `/readyz`, `/metrics`, and static files at `/`.
 */
export const createWeftServer = (options: WeftServerOptions = {}): WeftServer => {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits }
  const relayOptions = options.relay === false ? null : (options.relay ?? {})
  // EMBED-3: the same upgrade path as an embedded relay; this server owns every path (unknown ones get 404).
  const core = createRelayCore({
    auth: options.auth,
    hooks: options.hooks,
    limits: options.limits,
    trustedProxies: options.trustedProxies,
    logger: options.logger,
    relay: relayOptions,
    relayPrefix: RELAY_PREFIX,
    signalPath: '/signal',
    metrics: options.metrics,
    workspacePath: options.workspacePath,
    workspaceRetention: options.workspaceRetention,
  })
  const { logger, metrics } = core
  // WS-RELAY-10: plain HTTP under the workspace endpoint is answered 426, as under the rooms' (`null`: none served).
  const workspacePrefix = relayOptions ? workspacePrefixOf(options.workspacePath) : null
  let state: 'idle' | 'listening' | 'closing' | 'closed' = 'idle'
  const startedAt = Date.now()

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
    core.handleUpgrade(req, socket, head, true)
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
      // HTTP-1.1: liveness stays 200 while PostgreSQL or Redis is away (restarting the node would not help).
      const health = await core.health()
      const counts = core.connections
      return void json(res, 200, {
        status: health && !healthy(health) ? 'degraded' : 'ok',
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        connections: { signal: counts.signal, relay: counts.relay },
        relay: relayOptions !== null,
        auth: core.authMode,
        ...health,
      })
    }
    if (path === '/readyz') {
      if (state !== 'listening') return void json(res, 503, { status: 'shutting-down' })
      // HTTP-1.2: a load balancer sends no new clients to a node that cannot store or reach its peers.
      const health = await core.health()
      const ready = health === null || healthy(health)
      return void json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', ...health })
    }
    if (path === '/metrics') {
      const text = await metrics.render()
      return void res.writeHead(200, { 'content-type': metrics.contentType }).end(text)
    }
    const workspace =
      workspacePrefix !== null && (path.startsWith(workspacePrefix) || `${path}/` === workspacePrefix)
    if (path === '/signal' || path === '/relay' || path.startsWith(RELAY_PREFIX) || workspace) {
      return void res
        .writeHead(426, { upgrade: 'websocket', 'content-type': 'text/plain' })
        .end('upgrade required\n')
    }
    if (options.staticDir) return serveStatic(options.staticDir, req, res, path)
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  }

  const listen = async (): Promise<ListenAddress> => {
    if (state !== 'idle') throw new WeftServerError('invalid-argument', `listen() called while ${state}`)
    // CLI-1.3: a static directory that is not there would answer 404 to every page; refuse before listening.
    if (options.staticDir && !(await isDirectory(options.staticDir)))
      throw new WeftServerError(
        'invalid-argument',
        `the static directory ${JSON.stringify(options.staticDir)} does not exist or is not a directory`,
      )
    state = 'listening'
    const host = options.host ?? '127.0.0.1'
    await core
      .start()
      .then(
        () =>
          new Promise<void>((resolve, reject) => {
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
          }),
      )
      .catch(async (err: unknown) => {
        state = 'closed'
        await core.close()
        throw err
      })
    const address = http.address()
    const port = typeof address === 'object' && address ? address.port : (options.port ?? 4444)
    logger.info(
      {
        host,
        port,
        relay: relayOptions !== null,
        static: options.staticDir ?? null,
        nodeFlags: process.execArgv,
      },
      'listening',
    )
    return { host, port }
  }

  const close = async (): Promise<void> => {
    if (state === 'closing' || state === 'closed') return
    const wasListening = state === 'listening'
    state = 'closing'
    const httpClosed = wasListening
      ? new Promise<void>((resolve) => http.close(() => resolve()))
      : Promise.resolve()
    await core.close()
    http.closeAllConnections()
    await httpClosed
    state = 'closed'
    logger.info('closed')
  }

  return { listen, close, revalidate: (filter) => core.revalidate(filter), metrics }
}
