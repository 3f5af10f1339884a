import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import { CloseCode, closeCodeName, isWorkspaceId } from '@weft/core'
import { AdmissionControl } from './admission/AdmissionControl.js'
import { ClientAddresses } from './admission/ClientAddresses.js'
import { Authenticator, type AuthOptions, type AuthResult } from './auth/Authenticator.js'
import { AuthorizedSocket } from './auth/AuthorizedSocket.js'
import { RoomGrant, type Access } from './auth/RoomGrant.js'
import { extractToken, offeredProtocols, selectProtocol } from './auth/extractToken.js'
import {
  guardedSocketContext,
  heartbeatSweeps,
  type GuardedSocket,
  type GuardedSocketContext,
} from './connection/GuardedSocket.js'
import { EarlyInput } from './connection/EarlyInput.js'
import { InputBudget } from './connection/InputBudget.js'
import type { WeftHooks } from './hooks.js'
import { ServerMetrics, type Endpoint, type ServerMetricsOptions } from './metrics/ServerMetrics.js'
import { openRelayStore } from './relay/openRelayStore.js'
import type { RelayConnection } from './relay/RelayConnection.js'
import { PresenceTicker } from './relay/PresenceTicker.js'
import { RelayHub } from './relay/RelayHub.js'
import type { RelaySocket, RelaySocketHandler } from './relay/RelaySocket.js'
import type { SharedMessage } from './relay/SharedMessage.js'
import type { RelayOptions } from './relay/RelayOptions.js'
import { DEFAULT_LIMITS, type ServerLimits } from './ServerLimits.js'
import {
  matchesRevalidateFilter,
  PendingDecision,
  RevalidateTally,
  Redecision,
  SUPERSEDED,
  type RevalidatedConnection,
  type RevalidateFilter,
  type RevalidateResult,
} from './relay/revalidate.js'
import { SignalingHub, type Subscriber } from './signal/SignalingHub.js'
import { WeftServerError } from './WeftServerError.js'
import { acceptWebSocket, handshakeProblem, refuseUpgrade, refuseWebSocket } from './ws/acceptWebSocket.js'
import { destroyOnError } from './ws/WebSocketConnection.js'
import { whenDrained } from './workspace/whenDrained.js'
import { WorkspaceEndpoint, workspacePrefixOf, workspaceRoute } from './workspace/WorkspaceEndpoint.js'
import { workspaceRetentionOf, type PurgeRefusal } from './workspace/WorkspacePurger.js'
import type { WorkspaceSession } from './workspace/WorkspaceSession.js'
import type { ScaleOutHealth } from './scaleout/ScaleOutRelay.js'

/**
 * Options of {@link createWeftRelay}: the relay's own settings ({@link RelayOptions}: `store` or `dataDir`, commit
 * window, compaction...) plus where it answers, auth, hooks and limits. See docs/guides/server.md, "Embedding in an
 * existing server".
 */
export interface WeftRelayOptions extends RelayOptions, WeftServiceOptions {
  /** Path prefix of the rooms: a room is served at `<path>/<room>` (default `/relay`). */
  readonly path?: string | undefined
  /** Path of y-webrtc signaling (the `/signal` endpoint of `weft serve`), or none (the default). */
  readonly signalPath?: string | undefined
}

/**
 * What {@link createWeftRelay} and `createWeftServer` share: who may connect, the app's hooks, the protection limits,
 * trusted proxies, logging and metrics.
 */
export interface WeftServiceOptions {
  /**
   * Path prefix of the multiplexed workspace endpoint: one socket per workspace at `<workspacePath>/<W>` carries any
   * number of its documents (docs/spec/workspaces.md, WS-RELAY-*; default `/workspace`); `false` serves none. Only
   * with the storing relay.
   */
  readonly workspacePath?: string | false | undefined
  /**
   * How long the relay keeps a deleted workspace document's data (ms after the relay first saw its tombstone, never
   * the client's `deletedAt`; default 30 days, as the client's `retention`), then purges it from its store and
   * refuses it to workspace sockets (docs/spec/workspaces.md, WS-PURGE-*); `false` keeps it for ever. Swept at start
   * and every quarter of it (at most hourly). Only with the workspace endpoint.
   */
  readonly workspaceRetention?: number | false | undefined
  /** JWT settings; without a secret, a public key or an `authenticate` hook, every room is open to anyone. */
  readonly auth?: AuthOptions | undefined
  /** The app's hooks: custom auth, and code at load, update, store, connect and disconnect (HOOK-*). */
  readonly hooks?: WeftHooks | undefined
  /** Protection limits (each field defaults to {@link DEFAULT_LIMITS}). */
  readonly limits?: Partial<ServerLimits> | undefined
  /**
   * Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` header names the client, for the per-address
   * limits (`maxConnectionsPerIp`, `upgradesPerIpPerSecond`). Default: loopback only (`127.0.0.0/8`, `::1`, a proxy on
   * the same host); `[]` trusts none. Loopback clients themselves are not limited per address.
   */
  readonly trustedProxies?: readonly string[] | undefined
  /** Structured logger (pino). Default: pino at level `info` on stdout. */
  readonly logger?: Logger | undefined
  /**
   * Metrics settings: `registry`, the app's prom-client `Registry` to register Weft's metrics in (then one scrape
   * shows both). Default: a private registry with prom-client's default process metrics (`metrics.render()`; served
   * at `/metrics` by `createWeftServer`).
   */
  readonly metrics?: ServerMetricsOptions | undefined
}

/**
 * What the app tells {@link WeftRelay.accept} about a WebSocket it accepted: the room (or the workspace) and its own
 * auth decision.
 */
export interface AcceptRequest {
  /**
   * The room the client asked for (decoded, as the part after `<path>/` of an upgrade; 1 to `maxRoomNameLength`
   * characters). Give a `room` or a `workspace`.
   */
  readonly room?: string | undefined
  /**
   * The workspace `W` the client asked for, instead of a room (EMBED-5): the socket is served as one to
   * `<workspacePath>/<W>` (docs/spec/workspaces.md, WS-RELAY-*), carrying any of W's documents, each checked against
   * `grant` when the client subscribes to it. Needs the relay's workspace endpoint (`workspacePath` not `false`).
   */
  readonly workspace?: string | undefined
  /**
   * The app's auth decision for this client: the rooms it may use and how (`new RoomGrant({ [room]: 'write' })`,
   * `RoomGrant.open()` for an app without auth, or the grant of `Authenticator.authenticate`'s result), optionally
   * with an expiry that ends the connection. The relay never authenticates a handed-over socket itself (the
   * `authenticate` hook does not run): deciding who the client is belongs to the app.
   */
  readonly grant: RoomGrant
  /**
   * The client's address: counted against the per-address limits (`maxConnectionsPerIp`, `upgradesPerIpPerSecond`)
   * and shown to the hooks. Without it the connection counts against no per-address limit.
   */
  readonly clientAddress?: string | undefined
  /**
   * The app's decision for this socket, made again by {@link WeftRelay.revalidate} (RELAY-4.5): given the socket's id
   * and the grant it holds now, return `{ ok: true, grant }` with the grant it holds from now on or `{ ok: false,
   * reason }` to close it with `AccessRevoked`; a throw closes it with `InternalError`. Without it the socket is not
   * revalidated (its grant holds until it ends).
   */
  readonly reauthorize?:
    | ((connection: { readonly id: number; readonly grant: RoomGrant }) => AuthResult | Promise<AuthResult>)
    | undefined
}

/** Options of one {@link WeftRelay.attach} (or {@link WeftRelay.handleUpgrade}) call. */
export interface AttachOptions {
  /**
   * Path prefix of the rooms on this server: a room is served at `<path>/<room>` (default: the relay's `path`,
   * {@link WeftRelayOptions.path}). A room is the same room under every path: `/a/notes` and `/b/notes` are one
   * document.
   */
  readonly path?: string | undefined
}

/** A server a {@link WeftRelay} can attach to: `node:http`'s or `node:https`'s (Express's `app.listen()` returns one). */
export type UpgradableServer = HttpServer | HttpsServer

/**
 * The Weft relay without an HTTP server of its own, for an app that runs one already (node:http, node:https,
 * Express, Fastify's `server`): it answers WebSocket upgrades under its path and leaves every other request alone.
 * Every protection of `weft serve` applies (limits, per-address admission, heartbeat, auth before any frame); the
 * app's server sets its own header timeout (CONN-12: `headersTimeout`).
 */
export interface WeftRelay {
  /**
   * Listens to `server`'s `upgrade` events and takes those under the relay's paths (EMBED-1); other upgrades are
   * left to the app's other listeners. Returns a function that detaches again. Opens the store on first use.
   *
   * `options.path` serves this server's rooms at `<options.path>/<room>` instead of the relay's `path` (EMBED-1.1): one
   * relay (one store, one set of loaded rooms) attached to two servers, or twice to one server under two paths.
   * Throws `invalid-argument` for a path that does not start with `/`.
   */
  attach(server: UpgradableServer, options?: AttachOptions): () => void
  /**
   * Takes one upgrade request if it is under the relay's paths: returns `true` and accepts or refuses it
   * (refusals are answered on the socket), or returns `false` without touching the socket (EMBED-1). For an app
   * that dispatches upgrades itself (`server.on('upgrade', ...)`). `options.path`: as for {@link WeftRelay.attach}.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, options?: AttachOptions): boolean
  /**
   * Serves a WebSocket the app accepted itself (EMBED-4; "Bring your own WebSocket server" in docs/guides/server.md):
   * a `ws` socket wrapped in a `WsRelaySocket`, or any other {@link RelaySocket}. The app has authenticated
   * the client and says so with `request.grant`; the relay checks the rest as for its own upgrades: the room's name,
   * the grant's expiry and its access to the room (`Forbidden` when none), its state (`ServerShutdown` once
   * closing), `maxConnections` (`ServerFull`) and, when `request.clientAddress` is given, the per-address limits
   * (`RateLimited`). A refused socket is closed with that code. An accepted one ends when the grant does
   * (`TokenExpired`), is closed by {@link WeftRelay.close} and runs every hook but `authenticate`. Starts the relay
   * if it is not started (the socket waits for the store).
   *
   * With `request.workspace` instead of a room (EMBED-5), the socket is a workspace socket, as an upgrade to
   * `<workspacePath>/<W>` is: an id that is not a workspace id is refused with `Forbidden`, and access is decided per
   * document at each SUBSCRIBE (WS-RELAY-3). A socket that reports `bufferedAmount` (as `WsRelaySocket` does) gets the
   * endpoint's flow control (WS-RELAY-5); throws `invalid-argument` for both a room and a workspace, and for a
   * workspace when `workspacePath` is `false`.
   *
   * The app's WebSocket server owns what depends on the transport: message size limits (`ws`'s `maxPayload`:
   * set it to `limits.maxRelayMessageBytes` or less), pings for dead peers, the header timeout, upgrade rate limits.
   */
  accept(socket: RelaySocket, request: AcceptRequest): void
  /**
   * Opens the store (if not open) and starts the heartbeat; the first upgrade does it too. Await it at start-up to
   * learn of a store that cannot open before a client does.
   */
  start(): Promise<void>
  /**
   * Decides again, for each open connection that `filter` matches, what it may do, and applies the outcome at once
   * (RELAY-4.5 to 4.9; "Revoking access" in docs/guides/server.md). Call it after the app changed who may do what (a
   * member removed, a role lowered, a token denied).
   *
   * The decision is the one made at the upgrade: the `authenticate` hook runs again with the connection's upgrade
   * request and token (and `ctx.jwt`, the token verified again), `ctx.connection` telling it which open connection it
   * decides. A connection whose access is gone is closed with `AccessRevoked` (4406, final; `TokenExpired` for the
   * reason `"token expired"`); one whose `write` access became `read` stays and is refused its next update as any
   * read-only connection (`ReadOnly`, RELAY-4.3); a new grant's subject, claims and expiry replace the old ones (the
   * room rules' writer, the hooks' `connection`, the expiry timer). Access that grew takes effect at the next
   * connection. Workspace sockets lose only the documents whose access is gone (REFUSED with `AccessRevoked`);
   * signaling connections are closed when a subscribed topic lost write access.
   *
   * Without an `authenticate` hook the decision is the JWT alone, which cannot change while the token is valid:
   * nothing is decided again (every match is `kept`). A socket handed over with {@link WeftRelay.accept} carries the
   * app's own decision: its `reauthorize` (AcceptRequest) is called instead, and without one it is `kept`. Resolves
   * once every decision is applied.
   *
   * An upgrade whose `authenticate` call is still running is not counted in `checked`; if `filter` matches it (its
   * new grant's subject, its room, any `room` for signaling, `where` with `id` 0), the hook is called for it again
   * once that call returns, and only the new decision is applied (HOOK-1.6): a hook that read the app's state before
   * this call cannot let the upgrade through with it.
   */
  revalidate(filter?: RevalidateFilter): Promise<RevalidateResult>
  /**
   * Graceful shutdown (EMBED-2): refuses new upgrades (503), closes every connection with `ServerShutdown`, flushes
   * every accepted update, waits for running hooks (an `onStored` or `onDisconnect` call at most `hookTimeoutMs`,
   * HOOK-5.2) and closes a store the relay opened (never one it was given).
   * Does not close the app's server.
   */
  close(): Promise<void>
  /** The relay's metrics (Prometheus text: `metrics.render()`, type `metrics.contentType`). */
  readonly metrics: ServerMetrics
}

/**
 * Creates an embeddable relay (nothing happens until {@link WeftRelay.attach}, {@link WeftRelay.handleUpgrade} or
 * {@link WeftRelay.start}). Needs a `store` or a `dataDir`.
 *
 * ```ts
 * const relay = createWeftRelay({ store, path: '/collab' })
 * relay.attach(server) // ws://host/collab/<room>
 * relay.attach(adminServer, { path: '/admin/collab' }) // the same rooms at ws://admin-host/admin/collab/<room>
 * ```
 */
export const createWeftRelay = (options: WeftRelayOptions): WeftRelay => {
  const {
    path,
    signalPath,
    auth,
    hooks,
    limits,
    trustedProxies,
    logger,
    metrics,
    workspacePath,
    workspaceRetention,
    ...relay
  } = options
  if (!relay.store && !relay.dataDir) {
    throw new WeftServerError('invalid-argument', 'createWeftRelay needs a store or a dataDir')
  }
  const prefix = normalizePath(path ?? '/relay', 'path')
  const core = createRelayCore({
    auth,
    hooks,
    limits,
    trustedProxies,
    logger,
    metrics,
    relay,
    relayPrefix: `${prefix}/`,
    signalPath: signalPath === undefined ? null : normalizePath(signalPath, 'signalPath'),
    workspacePath,
    workspaceRetention,
  })
  /** The room prefix of an attach (or handleUpgrade) call: its own `path`, else the relay's. */
  const prefixOf = (attach: AttachOptions | undefined): string =>
    attach?.path === undefined ? `${prefix}/` : `${normalizePath(attach.path, 'path')}/`
  const handleUpgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    attach?: AttachOptions,
  ): boolean => core.handleUpgrade(req, socket, head, false, prefixOf(attach))
  return {
    attach: (server, attach) => {
      const relayPrefix = prefixOf(attach)
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        core.handleUpgrade(req, socket, head, false, relayPrefix)
      }
      server.on('upgrade', listener)
      return () => void server.off('upgrade', listener)
    },
    handleUpgrade,
    accept: (socket, request) => core.accept(socket, request),
    start: () => core.start(),
    revalidate: (filter) => core.revalidate(filter),
    close: () => core.close(),
    metrics: core.metrics,
  }
}

const normalizePath = (path: string, name: string): string => {
  if (!path.startsWith('/')) throw new WeftServerError('invalid-argument', `${name} must start with "/"`)
  return path.replace(/\/+$/, '')
}

/** @internal Options of {@link createRelayCore}. */
export interface RelayCoreOptions extends WeftServiceOptions {
  /** The storing relay's settings, or `null` for signaling only. */
  readonly relay: RelayOptions | null
  /** Rooms are served at `<relayPrefix><room>` (ends with `/`). */
  readonly relayPrefix: string
  /** Where signaling is served (also with a trailing `/`), or `null`. */
  readonly signalPath: string | null
}

/** @internal What {@link createRelayCore} returns: {@link WeftRelay}'s engine, also under `createWeftServer`. */
export interface RelayCore {
  /**
   * `everyPath`: refuse requests under no route with 404 (the server owns every path) instead of passing them on.
   * `relayPrefix`: where this call serves rooms (ends with `/`; default {@link RelayCoreOptions.relayPrefix}).
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    everyPath: boolean,
    relayPrefix?: string,
  ): boolean
  /** {@link WeftRelay.accept}. */
  accept(socket: RelaySocket, request: AcceptRequest): void
  start(): Promise<void>
  close(): Promise<void>
  /** {@link WeftRelay.revalidate}. */
  revalidate(filter?: RevalidateFilter): Promise<RevalidateResult>
  readonly metrics: ServerMetrics
  readonly logger: Logger
  /** Open connections per endpoint. */
  readonly connections: Readonly<Record<Endpoint, number>>
  /** `open`, `secret`, `public-key`, or `hook` (an `authenticate` hook without JWT settings). */
  readonly authMode: string
  /** Scale-out: the store's and the bus's state (HTTP-1.1); `null` without scale-out or before the relay started. */
  health(): Promise<ScaleOutHealth | null>
}

type Route =
  | { readonly endpoint: 'signal' }
  // `workspace`: the workspace endpoint's socket of W (room `W/*`, what the authenticate hook is told).
  | { readonly endpoint: 'relay'; readonly room: string; readonly workspace?: string }

/**
 * @internal The one path of every upgrade, for {@link createWeftRelay} and `createWeftServer`: handshake, route,
 * state, per-address admission, capacity, auth (JWT and the `authenticate` hook), then the connection, handed to
 * signaling or the relay hub.
 */
export const createRelayCore = (options: RelayCoreOptions): RelayCore => {
  const logger = options.logger ?? pino({ name: 'weft' })
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits }
  const auth = new Authenticator(options.auth)
  const hooks = options.hooks ?? {}
  const addresses = new ClientAddresses(options.trustedProxies)
  const admission = new AdmissionControl(limits)
  const relayOptions = options.relay
  if (relayOptions && !relayOptions.store && !relayOptions.dataDir) {
    throw new WeftServerError(
      'invalid-argument',
      'the relay needs a store or a dataDir (or pass relay: false)',
    )
  }
  const rate = relayOptions?.workspaceSubscribes
  if (
    rate &&
    ((rate.burst !== undefined && !(Number.isInteger(rate.burst) && rate.burst >= 1)) ||
      (rate.perSecond !== undefined && !(Number.isFinite(rate.perSecond) && rate.perSecond > 0)))
  ) {
    throw new WeftServerError(
      'invalid-argument',
      'workspaceSubscribes: burst must be an integer of at least 1, perSecond a number above 0',
    )
  }
  const authMode = auth.mode === 'open' && hooks.authenticate ? 'hook' : auth.mode

  // The first log line says whether anyone may connect.
  if (hooks.authenticate) {
    logger.info(
      { auth: authMode, algorithms: auth.algorithms },
      auth.required
        ? 'auth required: the authenticate hook decides every connection, given the JWT verdict'
        : 'auth required: the authenticate hook decides every connection',
    )
  } else if (auth.required) {
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
  const workspacePrefix = relayOptions ? workspacePrefixOf(options.workspacePath) : null
  const workspaceRetention = workspaceRetentionOf(options.workspaceRetention)
  let workspaces: WorkspaceEndpoint | null = null
  const sockets = new Set<AuthorizedSocket>()
  /** What revalidating each accepted upgrade needs (RELAY-4.5). */
  const lives = new WeakMap<LiveSocket, Live>()
  /** Upgrades waiting for their auth decision (or the store): refused with 503 by close() (EMBED-2). */
  const deciding = new Set<Duplex>()
  /** HOOK-1.6: the decisions under way that an `authenticate` hook makes, told of each revalidate() call. */
  const pendingDecisions = new Set<PendingDecision>()
  /** Sockets the app handed over (EMBED-4). */
  const handed = new Set<HandedSocket>()
  const counts: Record<Endpoint, number> = { signal: 0, relay: 0 }
  let nextId = 1
  let state: 'idle' | 'starting' | 'open' | 'closing' | 'closed' = 'idle'
  let started: Promise<void> | null = null
  /** Whether the heartbeat sweeps (CONN-3); they run on `ticks`, with the relay's presence windows (RELAY-6.8). */
  let sweeping = false
  const ticks = new PresenceTicker()

  const metrics = newMetrics(
    {
      connections: () => [
        [{ endpoint: 'signal' }, counts.signal],
        [{ endpoint: 'relay' }, counts.relay],
      ],
      topics: () => signaling.topicCount,
      docsLoaded: () => relay?.docsLoaded ?? 0,
      relayRooms: () => relay?.roomCount ?? 0,
    },
    options.metrics,
  )

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

  /** Upgrade sockets this relay took (EMBED-1: each is answered once). */
  const taken = new WeakSet<Duplex>()

  /** The route of a request, `null` for a path of the relay's that names no valid room, `undefined` if not its. */
  const route = (path: string, relayPrefix: string): Route | null | undefined => {
    if (options.signalPath !== null && (path === options.signalPath || path === `${options.signalPath}/`))
      return { endpoint: 'signal' }
    const workspace = workspacePrefix === null ? undefined : workspaceRoute(path, workspacePrefix)
    if (workspace !== undefined)
      return workspace === null ? null : { endpoint: 'relay', room: `${workspace}/*`, workspace }
    if (relayOptions && path.startsWith(relayPrefix)) {
      let room: string
      try {
        room = decodeURIComponent(path.slice(relayPrefix.length))
      } catch {
        return null
      }
      if (room.length === 0 || room.length > limits.maxRoomNameLength) return null
      return { endpoint: 'relay', room }
    }
    return undefined
  }

  const handleUpgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    everyPath: boolean,
    relayPrefix = options.relayPrefix,
  ): boolean => {
    const url = parseUrl(req.url)
    const path = requestPath(req.url)
    const target = url && path !== null ? route(path, relayPrefix) : undefined
    // EMBED-1: a request under none of the relay's paths is left as it is (unless the server owns every path).
    if (target === undefined && !everyPath) return false
    // EMBED-1: a socket handed in twice (attached twice to one server, or attach() and handleUpgrade() both) is
    // answered once; answering it twice would interleave two handshakes on one socket.
    if (taken.has(socket)) return true
    taken.add(socket)
    upgrade(req, socket, head, url, target ?? null).catch((err: unknown) => {
      logger.error({ err, url: req.url }, 'upgrade failed')
      socket.destroy()
    })
    return true
  }

  /**
   * One upgrade request. Cheap refusals come first (handshake, route, state, per-address limits, capacity), then the
   * token is verified; the connection is created only once every decision is final (AUTH-7), so no frame of it
   * (`head` included) is parsed before. A refused socket is never registered or counted and is cut without the close
   * grace (CONN-5).
   */
  const upgrade = async (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL | null,
    target: Route | null,
  ): Promise<void> => {
    socket.on('error', destroyOnError)
    const problem = handshakeProblem(req)
    if (problem) {
      const version = problem.includes('Version')
      return refuseUpgrade(socket, version ? '426 Upgrade Required' : '400 Bad Request', version)
    }
    if (!url || !target) return refuseUpgrade(socket, '404 Not Found')
    if (state === 'idle') void start().catch(() => undefined)
    if (state !== 'open' && state !== 'starting') return refuseUpgrade(socket, '503 Service Unavailable')
    const client = addresses.of(req)
    const admitted = admission.admit(client)
    if (admitted !== 'ok') {
      logger.debug({ client, reason: admitted }, 'upgrade refused')
      return refuseUpgrade(socket, '429 Too Many Requests', false, ['Retry-After: 1'])
    }
    let conn: AuthorizedSocket | null = null
    deciding.add(socket)
    // HOOK-1.5: the decision (an authenticate hook, the store opening) has headersTimeoutMs; then the upgrade is
    // answered 503 and the decision, when it comes, is ignored. A hanging hook holds no socket for ever.
    const timer = setTimeout(() => {
      if (!deciding.delete(socket)) return
      logger.warn({ client, endpoint: target.endpoint }, 'no auth decision in time: upgrade refused')
      refuseUpgrade(socket, '503 Service Unavailable', false, ['Retry-After: 1'])
    }, limits.headersTimeoutMs)
    timer.unref()
    try {
      const opening = open(req, socket, head, url, target, client)
      // HOOK-1.7: `head` is held (and charged) by the decision, or dropped by it; a suspended call keeps its
      // parameters, so this one lets go of it.
      head = NOTHING
      conn = await opening
    } finally {
      clearTimeout(timer)
      deciding.delete(socket)
      if (!conn) admission.release(client)
    }
  }

  /** The auth decision: the JWT verdict, then the `authenticate` hook's (HOOK-1), if one is set. */
  const decide = async (
    req: IncomingMessage,
    token: string | undefined,
    target: Route,
    client: string,
    connection?: OpenConnection,
  ): Promise<AuthResult | Error> => {
    const authenticate = hooks.authenticate
    if (!authenticate) return auth.authenticate(token)
    const jwt = auth.required ? await auth.authenticate(token) : null
    try {
      const room = target.endpoint === 'relay' ? target.room : null
      const result = await authenticate({
        request: req,
        endpoint: target.endpoint,
        room,
        clientAddress: client,
        token,
        jwt,
        ...(connection ? { connection } : {}),
      })
      if (!isAuthResult(result)) return new Error('the authenticate hook returned no AuthResult')
      return result
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err))
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
    // HOOK-1.7: what the client sends meanwhile is held unread, so that a client gone during the decision is seen;
    // charged to the input budget, which may refuse the upgrade for it (CONN-11.2).
    const early = new EarlyInput(socket, inputBudget, () =>
      refuse(CloseCode.MemoryLimit, 'server buffer budget exceeded'),
    )
    const refuse = (code: CloseCode, reason: string): null => {
      early.release() // the refusal reads and drops what follows
      metrics.countClose(code)
      logger.debug(
        { client, endpoint: target.endpoint, code, codeName: closeCodeName(code), reason },
        'connection refused',
      )
      refuseWebSocket(req, socket, protocol, code, reason)
      return null
    }
    // What came with the request is held (and charged) with the rest; shed already if it passed the budget.
    if (!early.hold(head)) return null
    head = NOTHING // held by `early` now: not kept by this call while it is decided
    // CONN-5: checked before the token (no verification work when full) and again after it.
    if (sockets.size + handed.size >= limits.maxConnections)
      return refuse(CloseCode.ServerFull, 'server full')
    const token = extractToken(url, offered)
    // HOOK-1.6: a revalidate() call during the decision, whose filter matches it, sends it back to be made again.
    const pending = hooks.authenticate ? new PendingDecision() : null
    if (pending) pendingDecisions.add(pending)
    try {
      for (;;) {
        pending?.restart()
        const decided = await decideUpgrade(req, socket, target, client, token, refuse, early)
        if (!decided) return null
        const { grant } = decided
        const connection: RevalidatedConnection = {
          id: 0,
          endpoint: target.endpoint === 'signal' ? 'signal' : target.workspace ? 'workspace' : 'relay',
          room: target.endpoint === 'signal' ? null : target.room,
          grant,
          subject: grant.subject,
          clientAddress: client,
        }
        if (pending?.overtaken(connection)) {
          logger.debug(
            { client, endpoint: target.endpoint },
            'revalidated during the decision: deciding again',
          )
          continue
        }
        const bytes = Buffer.concat(early.release())
        return admit(req, socket, bytes, protocol, target, client, token, refuse, decided)
      }
    } finally {
      early.release()
      if (pending) pendingDecisions.delete(pending)
    }
  }

  /**
   * One auth decision for an upgrade and the checks that follow it (AUTH-7, WS-PURGE-8); the grant and access if the
   * upgrade may be accepted, `null` if it was refused or is gone.
   */
  const decideUpgrade = async (
    req: IncomingMessage,
    socket: Duplex,
    target: Route,
    client: string,
    token: string | undefined,
    refuse: (code: CloseCode, reason: string) => null,
    early: EarlyInput,
  ): Promise<Decided | null> => {
    const result = await decide(req, token, target, client)
    // EMBED-2: a relay started by its first upgrade opens its store before any connection is created.
    if (state === 'starting') await started?.catch(() => undefined)
    if (state !== 'open' || socket.destroyed || socket.writableEnded || early.gone()) {
      // close() or the decision timeout answered it 503 already (and lets the answer out); anything else is cut,
      // a client that went away meanwhile too (HOOK-1.7).
      if (!socket.writableEnded) socket.destroy()
      return null
    }
    if (result instanceof Error) {
      logger.error(
        { err: result, client, endpoint: target.endpoint, hook: 'authenticate' },
        'authenticate hook failed',
      )
      return refuse(CloseCode.InternalError, 'authenticate hook failed')
    }
    if (!result.ok) {
      const code = result.reason === 'token expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized
      return refuse(code, result.reason)
    }
    const grant = result.grant
    // AUTH-7: verification is asynchronous; the grant must still hold now, when the connection would start.
    if (grant.expired()) return refuse(CloseCode.TokenExpired, 'token expired')
    const access = target.endpoint === 'relay' && !target.workspace ? grant.access(target.room) : null
    if (access === 'none') return refuse(CloseCode.Forbidden, 'room not granted')
    // WS-PURGE-8: a document past its retention is refused at /relay/W/D as at a workspace socket's SUBSCRIBE;
    // WS-PURGE-9: decided once its workspace's catalogue was read (bounded), refused (retryable) if it could not be.
    const purger = access !== null ? workspaces?.purger : null
    if (purger && target.endpoint === 'relay') {
      const refusal = await purger.refusal(target.room)
      if (state !== 'open' || socket.destroyed || socket.writableEnded || early.gone()) {
        if (!socket.writableEnded) socket.destroy()
        return null
      }
      if (refusal) return refuse(refusal.code, refusal.reason)
    }
    return { grant, access }
  }

  /** Accepts an upgrade whose decision is final: the 101 answer, then the connection, handed to its route. */
  const admit = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    protocol: string | false,
    target: Route,
    client: string,
    token: string | undefined,
    refuse: (code: CloseCode, reason: string) => null,
    { grant, access }: Decided,
  ): AuthorizedSocket | null => {
    if (sockets.size + handed.size >= limits.maxConnections)
      return refuse(CloseCode.ServerFull, 'server full')
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
    // RELAY-4.5: the decision's inputs are kept only when there is a decision to make again (an authenticate hook).
    const live: Live = {
      target,
      decision: hooks.authenticate ? { request: req, token } : null,
      member: null,
      redecision: null,
    }
    lives.set(conn, live)
    try {
      live.member = serve(conn, grant, target, access, client, socket)
    } catch (err) {
      // The connection is registered: it is released once, when its socket is gone.
      logger.error({ err, conn: conn.id, endpoint: target.endpoint }, 'connection start failed')
      conn.terminate()
    }
    return conn
  }

  /** Hands an accepted connection to its route. */
  const serve = (
    conn: AuthorizedSocket,
    grant: RoomGrant,
    target: Route,
    access: Exclude<Access, 'none'> | null,
    client: string,
    socket: Duplex,
  ): Live['member'] => {
    if (target.endpoint === 'relay' && target.workspace) {
      const who = { grant, id: conn.id, clientAddress: client }
      return workspaces?.accept(conn, target.workspace, who, whenDrained(socket)) ?? null
    }
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
    return (
      relay?.accept(conn, target.room, access, {
        id: conn.id,
        room: target.room,
        access,
        grant,
        subject: grant.subject,
        clientAddress: client,
      }) ?? null
    )
  }

  /** RELAY-4.5: decides again what each open connection `filter` matches may do, and applies it. */
  const revalidate = async (filter: RevalidateFilter = {}): Promise<RevalidateResult> => {
    const tally = new RevalidateTally()
    // HOOK-1.6: decisions under way may have read what changed before this call; those it matches are made again.
    for (const pending of pendingDecisions) pending.revalidating(filter)
    const runs: Promise<void>[] = []
    for (const conn of [...sockets, ...handed]) {
      const live = lives.get(conn)
      if (!live || !conn.open) continue
      const seen = describeLive(conn, live)
      const topics =
        live.target.endpoint === 'signal' ? ((live.member as Subscriber | null)?.topics ?? null) : null
      if (!matchesRevalidateFilter(filter, seen, topics)) continue
      tally.checked++
      runs.push(
        revalidateOne(conn, live, tally).catch((err: unknown) => {
          logger.error({ err, conn: conn.id }, 'revalidation failed')
          conn.close(CloseCode.InternalError, 'revalidation failed')
          tally.closed++
        }),
      )
    }
    await Promise.all(runs)
    return tally.result
  }

  /** One connection's revalidation: the upgrade's decision made again (HOOK-1), then applied (RELAY-4.5 to 4.9). */
  const revalidateOne = async (conn: LiveSocket, live: Live, tally: RevalidateTally): Promise<void> => {
    const decision = live.decision
    if (!decision) {
      tally.kept++
      return
    }
    // RELAY-4.5, HOOK-1.6: one decision under way per connection; calls meanwhile share one more, made after it.
    live.redecision ??= new Redecision(limits.headersTimeoutMs)
    const outcome = await live.redecision.run(
      () => {
        const connection = { id: conn.id, grant: conn.grant }
        return typeof decision === 'function'
          ? reauthorize(decision, connection)
          : decide(decision.request, decision.token, live.target, conn.clientAddress, connection)
      },
      (result) => applyDecision(conn, live, result),
    )
    // RELAY-4.5: a later revalidation of the same connection overtook this one: its decision is the one applied.
    if (outcome === SUPERSEDED) tally.kept++
    else tally.add(outcome)
  }

  /** Applies one re-decision of an open connection (RELAY-4.5 to 4.9); its counts. */
  const applyDecision = (conn: LiveSocket, live: Live, result: AuthResult | Error): RevalidateTally => {
    const tally = new RevalidateTally()
    const decision = live.decision
    if (!conn.open) return tally
    const close = (code: CloseCode, reason: string): RevalidateTally => {
      conn.close(code, reason)
      tally.closed++
      return tally
    }
    if (result instanceof Error) {
      const hook = typeof decision === 'function' ? 'reauthorize' : 'authenticate'
      logger.error(
        { err: result, conn: conn.id, endpoint: live.target.endpoint, hook },
        `${hook} hook failed`,
      )
      return close(CloseCode.InternalError, `${hook} hook failed`)
    }
    if (!result.ok) {
      const expired = result.reason === 'token expired'
      return close(expired ? CloseCode.TokenExpired : CloseCode.AccessRevoked, result.reason)
    }
    const grant = result.grant
    if (grant.expired()) return close(CloseCode.TokenExpired, 'token expired')
    const target = live.target
    if (target.endpoint === 'signal') {
      conn.regrant(grant)
      const sub = live.member as Subscriber | null
      if (!sub || signaling.regrant(sub, grant)) tally.kept++
      else tally.closed++
      return tally
    }
    if (target.workspace) {
      conn.regrant(grant)
      const outcome = (live.member as WorkspaceSession | null)?.regrant(grant)
      tally.kept++
      tally.downgraded += outcome?.downgraded ?? 0
      tally.documentsRevoked += outcome?.revoked ?? 0
      return tally
    }
    const access = grant.access(target.room)
    if (access === 'none') return close(CloseCode.AccessRevoked, 'access revoked')
    conn.regrant(grant)
    const member = live.member as RelayConnection | null
    if (!member) {
      tally.kept++
      return tally
    }
    // Access that grew (read to write) takes effect at the next connection: a read connection was never greeted.
    const effective = member.access === 'read' ? 'read' : access
    if (member.access === 'write' && effective === 'read') tally.downgraded++
    else tally.kept++
    relay?.regrant(member, {
      id: conn.id,
      room: target.room,
      access: effective,
      grant,
      subject: grant.subject,
      clientAddress: conn.clientAddress,
    })
    return tally
  }

  /** EMBED-4: a socket the app accepted and authenticated itself; checked as an upgrade is after its auth. */
  const accept = (
    socket: RelaySocket,
    request: AcceptRequest,
    purged?: { readonly refusal: PurgeRefusal | null },
  ): void => {
    if (!relayOptions) throw new WeftServerError('invalid-argument', 'accept() needs the storing relay')
    if (!(request.grant instanceof RoomGrant)) {
      throw new WeftServerError(
        'invalid-argument',
        'accept() needs a RoomGrant: the app decides who the client is',
      )
    }
    const { room, grant, workspace } = request
    const client = request.clientAddress
    if (workspace !== undefined && (room !== undefined || workspacePrefix === null)) {
      throw new WeftServerError(
        'invalid-argument',
        room !== undefined
          ? 'accept() takes a room or a workspace, not both'
          : 'accept({ workspace }) needs the workspace endpoint (workspacePath is false)',
      )
    }
    const refuse = (code: CloseCode, reason: string): void => {
      metrics.countClose(code)
      logger.debug(
        { client, endpoint: 'relay', code, codeName: closeCodeName(code), reason },
        'connection refused',
      )
      socket.attach(IGNORE)
      socket.close(code, reason)
    }
    // EMBED-5: a workspace socket's access is decided per document (WS-RELAY-3); `target` is its room `W/*`.
    const target = workspace === undefined ? room : `${workspace}/*`
    if (workspace !== undefined && (typeof workspace !== 'string' || !isWorkspaceId(workspace))) {
      return refuse(CloseCode.Forbidden, 'invalid workspace id')
    }
    if (typeof target !== 'string' || target.length === 0 || target.length > limits.maxRoomNameLength) {
      return refuse(CloseCode.Forbidden, 'invalid room name')
    }
    if (state === 'idle') void start().catch(() => undefined)
    if (state === 'starting') {
      // EMBED-2: no connection before the store is open; the socket waits (its messages are kept by it).
      void started
        ?.catch(() => undefined)
        .then(() => {
          if (state === 'starting') return
          accept(socket, request)
        })
      return
    }
    if (state !== 'open') return refuse(CloseCode.ServerShutdown, 'server shutting down')
    if (!socket.open) return socket.attach(IGNORE)
    // AUTH-7: the grant must still hold now, when the connection starts.
    if (grant.expired()) return refuse(CloseCode.TokenExpired, 'token expired')
    const access = workspace === undefined ? grant.access(target) : null
    if (access === 'none') return refuse(CloseCode.Forbidden, 'room not granted')
    // WS-PURGE-8, WS-PURGE-9, as for an upgrade: once the workspace's catalogue was read (the socket waits, its
    // messages kept by it), or could not be.
    const purger = access !== null ? workspaces?.purger : null
    if (purger) {
      const refusal = purged ? purged.refusal : purger.refusal(target)
      if (refusal instanceof Promise) {
        // Decided once the catalogue was read: the checks above run again then (state, socket, grant).
        void refusal.then((decided) => accept(socket, request, { refusal: decided }))
        return
      }
      if (refusal) return refuse(refusal.code, refusal.reason)
    }
    if (sockets.size + handed.size >= limits.maxConnections)
      return refuse(CloseCode.ServerFull, 'server full')
    if (client !== undefined) {
      const admitted = admission.admit(client)
      if (admitted !== 'ok') return refuse(CloseCode.RateLimited, 'too many connections from this address')
    }
    const id = nextId++
    const conn: HandedSocket = new HandedSocket(socket, grant, metrics, id, client ?? '', () => {
      if (!handed.delete(conn)) return
      counts.relay--
      if (client !== undefined) admission.release(client)
    })
    handed.add(conn)
    // RELAY-4.5: the app's own decision, made again by revalidate().
    const live: Live = {
      target:
        workspace === undefined
          ? { endpoint: 'relay', room: target }
          : { endpoint: 'relay', room: target, workspace },
      decision: request.reauthorize ?? null,
      member: null,
      redecision: null,
    }
    lives.set(conn, live)
    counts.relay++
    accepted.relay.inc()
    if (logger.isLevelEnabled('debug')) {
      conn.logger.debug(
        { endpoint: 'relay', room: target, access, sub: grant.subject, client },
        'connection handed over',
      )
    }
    try {
      if (access === null) {
        const who = { grant, id, clientAddress: client ?? '' }
        live.member =
          workspaces?.accept(conn, workspace as string, who, (fn) => void setTimeout(fn, HANDED_DRAIN_MS)) ??
          null
        return
      }
      live.member =
        relay?.accept(conn, target, access, {
          id,
          room: target,
          access,
          grant,
          subject: grant.subject,
          clientAddress: client ?? '',
        }) ?? null
    } catch (err) {
      logger.error({ err, conn: id, endpoint: 'relay' }, 'connection start failed')
      conn.close(CloseCode.InternalError, 'internal error')
    }
  }

  /** Opens the store, creates the relay hub, starts admission sweeps and the heartbeat; once. */
  const start = (): Promise<void> => {
    if (started) return started
    if (state !== 'idle')
      return Promise.reject(new WeftServerError('destroyed', `start() called while ${state}`))
    state = 'starting'
    started = (async () => {
      if (relayOptions) {
        const { store, owned } = await openRelayStore(relayOptions)
        if (workspacePrefix !== null) {
          workspaces = new WorkspaceEndpoint({
            store,
            join: (socket, room, access, context) => relay?.accept(socket, room, access, context) ?? null,
            regrant: (member, context) => relay?.regrant(member, context),
            maxSubscriptions: limits.maxWorkspaceSubscriptions,
            maxBufferedBytes: limits.maxBufferedBytes,
            subscribeRate: relayOptions.workspaceSubscribes,
            topics: relayOptions.scaleOut ? () => relay?.topics ?? null : undefined,
            purge:
              workspaceRetention === null
                ? undefined
                : { retention: workspaceRetention, isLoaded: (room) => relay?.room(room) !== undefined },
            logger,
          })
        }
        relay = new RelayHub({
          store,
          ownsStore: owned,
          options: relayOptions,
          limits,
          metrics,
          logger,
          hooks,
          // WS-RELAY-6: CHANGED pushes follow each commit, apart from the app's onStored (HOOK-5.4).
          committed: workspaces ? (room) => workspaces?.stored(room) : undefined,
          ticker: ticks,
        })
      }
      admission.start()
      // CONN-3, RELAY-6.6: a sweep every half interval (CONN-3.1); each connection decides from its silent sweeps. A
      // sweep that comes late (the event loop was busy) is skipped: what the peers sent meanwhile may not have been
      // read yet. Never two in a row: under a load that makes every tick late, the heartbeat must still find dead
      // peers. The sweeps run on the shared ticks (RELAY-6.8): a sweep wakes the process only when no presence
      // window ends at the same moment.
      const { sweepMs } = heartbeatSweeps(limits)
      let lastSweep = performance.now()
      let skipped = false
      sweeping = true
      const sweep = (): void => {
        if (!sweeping) return
        ticks.schedule(sweepMs, sweepMs / 2, sweep)
        const now = performance.now()
        const late = now - lastSweep > sweepMs * 1.5
        lastSweep = now
        skipped = late && !skipped
        if (!skipped) for (const s of sockets) s.heartbeat()
      }
      ticks.schedule(sweepMs, sweepMs / 2, sweep)
      // close() may have begun meanwhile: it waits for this and then stops what was started.
      if (state === 'starting') state = 'open'
    })()
    started.catch((err: unknown) => {
      logger.error({ err }, 'the relay could not start')
      if (state === 'starting') state = 'closed'
    })
    return started
  }

  /** The shutdown under way or done: every close() call waits for the same one (EMBED-2). */
  let closing: Promise<void> | null = null
  const close = (): Promise<void> => (closing ??= shutdown())

  const shutdown = async (): Promise<void> => {
    // HTTP-2.2: Weft's metrics leave an app's registry with the relay, so that a relay created later can use it.
    const unregister = () => {
      if (options.metrics?.registry) metrics.unregister()
    }
    if (state === 'idle') {
      state = 'closed'
      return unregister()
    }
    state = 'closing'
    // EMBED-2: an upgrade still waiting for its decision (a slow or hanging authenticate hook) is answered now, not
    // left open for as long as the hook takes (the app's server could not close meanwhile).
    for (const socket of deciding) refuseUpgrade(socket, '503 Service Unavailable')
    deciding.clear()
    await started?.catch(() => undefined)
    sweeping = false
    admission.stop()
    const allClosed = Promise.all([
      ...[...sockets].map((s) => new Promise<void>((resolve) => s.onceClosed(resolve))),
      ...[...handed].map((s) => s.gone),
    ])
    for (const s of sockets) s.close(CloseCode.ServerShutdown, 'server shutting down')
    for (const s of handed) s.close(CloseCode.ServerShutdown, 'server shutting down')
    await allClosed
    await relay?.close()
    await workspaces?.close()
    state = 'closed'
    unregister()
  }

  return {
    handleUpgrade,
    accept,
    start,
    close,
    revalidate,
    metrics,
    logger,
    health: () => relay?.health() ?? Promise.resolve(null),
    get connections() {
      return counts
    },
    authMode,
  }
}

/** RELAY-4.5: an open connection as a revalidation uses it (an accepted upgrade, or a socket the app handed over). */
interface LiveSocket {
  readonly id: number
  readonly open: boolean
  readonly grant: RoomGrant
  readonly clientAddress: string
  close(code: number, reason: string): void
  regrant(grant: RoomGrant): void
}

/** RELAY-4.5: what revalidating one open connection needs. */
/** An upgrade's final auth decision: its grant and its access to the room (`null`: signaling, a workspace socket). */
interface Decided {
  readonly grant: RoomGrant
  readonly access: Exclude<Access, 'none'> | null
}

/** An empty `head`, for calls that handed theirs over (HOOK-1.7). */
const NOTHING = Buffer.alloc(0)

interface Live {
  readonly target: Route
  /**
   * How its decision is made again: the upgrade's request and token (for the `authenticate` hook), the app's
   * `reauthorize` of a handed socket, or `null` when there is no decision to make again (no hook).
   */
  readonly decision:
    { readonly request: IncomingMessage; readonly token: string | undefined } | Reauthorize | null
  /** What serves the connection: its room member, workspace session or signaling subscriber. */
  member: RelayConnection | WorkspaceSession | Subscriber | null
  /** Its re-decisions (RELAY-4.5, HOOK-1.6): made when the first `revalidate()` matches it. */
  redecision: Redecision<RevalidateTally> | null
}

/** The open connection a revalidation decides again (`AuthenticateContext.connection`). */
interface OpenConnection {
  readonly id: number
  readonly grant: RoomGrant
}

type Reauthorize = NonNullable<AcceptRequest['reauthorize']>

/** A handed socket's `reauthorize` called; a throw or a result that is not an `AuthResult` becomes an Error. */
const reauthorize = async (fn: Reauthorize, connection: OpenConnection): Promise<AuthResult | Error> => {
  try {
    const result = await fn(connection)
    return isAuthResult(result) ? result : new Error('reauthorize returned no AuthResult')
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  }
}

/** An open connection as a revalidation filter sees it. */
const describeLive = (conn: LiveSocket, live: Live): RevalidatedConnection => {
  const target = live.target
  const grant = conn.grant
  return {
    id: conn.id,
    endpoint: target.endpoint === 'signal' ? 'signal' : target.workspace ? 'workspace' : 'relay',
    room: target.endpoint === 'signal' ? null : target.room,
    grant,
    subject: grant.subject,
    clientAddress: conn.clientAddress,
  }
}

const isAuthResult = (value: unknown): value is AuthResult => {
  if (typeof value !== 'object' || value === null) return false
  const result = value as { ok?: unknown; grant?: unknown; reason?: unknown }
  return result.ok === true
    ? result.grant instanceof RoomGrant
    : result.ok === false && typeof result.reason === 'string'
}

/** The relay's metrics; a registry that already holds another relay's (or server's) is named in the error. */
const newMetrics = (...args: ConstructorParameters<typeof ServerMetrics>): ServerMetrics => {
  try {
    return new ServerMetrics(...args)
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new WeftServerError(
      'invalid-argument',
      `metrics.registry holds the metrics of another Weft relay or server (one at a time; close() the other first): ${reason}`,
      { cause: err },
    )
  }
}

/**
 * @internal EMBED-1: the path of a request target exactly as sent (origin-form `/a/b?q`, or the path of an
 * absolute-form `http://host/a/b`), without the normalization of a URL parser: `//host/relay/r`, `/relay\r` and
 * `/x/%2e%2e/relay/r` are not `/relay/r` (a proxy in front of the app, which routes on the raw path, would see
 * another path than the relay). `null` for a target in neither form.
 */
export const requestPath = (raw: string | undefined): string | null => {
  if (raw === undefined) return null
  let target = raw
  if (!target.startsWith('/')) {
    const authority = /^https?:\/\/[^/?#]*/i.exec(target)
    if (!authority) return null
    target = target.slice(authority[0].length)
    if (!target.startsWith('/')) return '/'
  }
  const end = target.search(/[?#]/)
  return end < 0 ? target : target.slice(0, end)
}

/** @internal A request's URL (relative to any host), or `null` if it does not parse. */
export const parseUrl = (raw: string | undefined): URL | null => {
  try {
    return new URL(raw ?? '/', 'http://localhost')
  } catch {
    return null
  }
}

/** A handler that drops everything (a refused socket's). */
const IGNORE: RelaySocketHandler = { onMessage: () => undefined, onClose: () => undefined }

/**
 * EMBED-5: how often a handed-over workspace socket's send buffer is looked at while it is full (a `RelaySocket` has
 * no drain event; the fair sender writes again once `bufferedAmount` fell under its mark).
 */
const HANDED_DRAIN_MS = 10

/** Longest `setTimeout` delay (about 24.8 days); a later expiry is armed again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * EMBED-4: a {@link RelaySocket} the app handed over, as the relay serves it: counted until it is gone, closed when
 * its grant ends (AUTH-6: a timer, and every message is checked first), its closes counted in the metrics.
 */
class HandedSocket implements RelaySocket, LiveSocket {
  readonly #inner: RelaySocket
  #grant: RoomGrant
  readonly #metrics: ServerMetrics
  readonly #onGone: () => void
  #timer: NodeJS.Timeout | null = null
  #resolveGone!: () => void
  /** Resolves once the socket is gone. */
  readonly gone = new Promise<void>((resolve) => (this.#resolveGone = resolve))

  constructor(
    inner: RelaySocket,
    grant: RoomGrant,
    metrics: ServerMetrics,
    /** The connection's id (`ConnectionContext.id`). */
    readonly id: number,
    /** The client's address the app gave, or `''`. */
    readonly clientAddress: string,
    onGone: () => void,
  ) {
    this.#inner = inner
    this.#grant = grant
    this.#metrics = metrics
    this.#onGone = onGone
    if (grant.expiresAt !== undefined) this.#arm(grant.expiresAt)
  }

  /** The grant: the one the app handed the socket over with, or the last one its `reauthorize` gave (RELAY-4.5). */
  get grant(): RoomGrant {
    return this.#grant
  }

  /** RELAY-4.5: `grant` replaces the socket's grant; its expiry is the one that ends the socket from now on. */
  regrant(grant: RoomGrant): void {
    this.#grant = grant
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    if (grant.expiresAt !== undefined && this.#inner.open) this.#arm(grant.expiresAt)
  }

  get open(): boolean {
    return this.#inner.open
  }

  get logger(): Logger {
    return this.#inner.logger
  }

  /** The inner socket's `bufferedAmount` when it reports one (`WsRelaySocket`), else 0 (EMBED-5's flow control). */
  get bufferedAmount(): number {
    const buffered = (this.#inner as { readonly bufferedAmount?: unknown }).bufferedAmount
    return typeof buffered === 'number' ? buffered : 0
  }

  attach(handler: RelaySocketHandler): void {
    this.#inner.attach({
      onMessage: (data, isBinary) => {
        const grant = this.#grant
        if (grant.expiresAt !== undefined && grant.expired())
          return this.close(CloseCode.TokenExpired, 'token expired')
        return handler.onMessage(data, isBinary)
      },
      onClose: () => {
        if (this.#timer) clearTimeout(this.#timer)
        this.#timer = null
        this.#onGone()
        this.#resolveGone()
        handler.onClose()
      },
    })
  }

  send(message: Uint8Array | SharedMessage): boolean {
    return this.#inner.send(message)
  }

  close(code: number, reason: string): void {
    if (!this.#inner.open) return
    this.#metrics.countClose(code)
    this.#inner.close(code, reason)
  }

  trackInput(delta: number): void {
    this.#inner.trackInput(delta)
  }

  #arm(expiresAt: number): void {
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMER_MS)
    this.#timer = setTimeout(() => {
      if (this.#grant.expired()) this.close(CloseCode.TokenExpired, 'token expired')
      else this.#arm(expiresAt)
    }, delay)
    this.#timer.unref()
  }
}
