import type { IncomingMessage } from 'node:http'
import type { AuthResult } from './auth/Authenticator.js'
import type { Access, RoomGrant } from './auth/RoomGrant.js'

/**
 * Hooks of a Weft relay (`WeftRelayOptions.hooks`, `WeftServerOptions.hooks`): the app's code at the points of a
 * connection's and a document's life (docs/guides/server.md, "Hooks reference"; rules HOOK-* in
 * docs/spec/relay-protocol.md). Every hook may be async; the relay awaits it before the step it gates. A hook that
 * throws (or rejects) never reaches the process: the connection concerned is closed with a named close code and
 * an error line is logged.
 *
 * Order for one relay connection: `authenticate` → `onConnect` → `onLoad` (the first connection of a room that is
 * not loaded) → `onUpdate` (each update it writes) → `onDisconnect`. `onStored` follows each durable write of a room.
 */
export interface WeftHooks {
  /**
   * Decides whether an upgrade request may connect, and to which rooms (HOOK-1): return `{ ok: true, grant }` with a
   * {@link RoomGrant} (rooms and access, optionally an expiry that ends the connection, a subject and claims) or
   * `{ ok: false, reason }` to refuse with `Unauthorized` (`reason` `"token expired"`: `TokenExpired`). A relay
   * room the grant does not name is refused with `Forbidden`. Runs for `/signal` too (`room` is then `null`).
   *
   * With JWT options configured the token is verified first and its verdict is `ctx.jwt`; the hook has the final
   * say (return `ctx.jwt` to keep it, refuse when `!ctx.jwt.ok` to require both). Without them `ctx.jwt` is `null`
   * and the hook alone decides. No frame of the connection is read before the decision (AUTH-7). A throw refuses
   * with `InternalError`.
   *
   * `WeftRelay.revalidate` (and `WeftServer.revalidate`) run the hook again for open connections, with the same
   * request and token and `ctx.connection` set (RELAY-4.5): the same code decides at the upgrade and later. A refusal
   * then closes the connection with `AccessRevoked`, a grant whose access to the room is gone too; a throw closes it
   * with `InternalError`. With the hook, each open connection keeps its upgrade request (its headers) for this.
   */
  readonly authenticate?: ((ctx: AuthenticateContext) => AuthResult | Promise<AuthResult>) | undefined
  /**
   * A relay connection was accepted and is about to join its room (HOOK-4). Its messages wait until this
   * resolves; a throw closes it with `InternalError` (and `onDisconnect` follows).
   */
  readonly onConnect?: ((ctx: ConnectionContext) => void | Promise<void>) | undefined
  /**
   * A room's document was loaded from the store, before anyone is answered from it (HOOK-2). Every connection
   * waiting for the room waits for this hook too; a throw fails the load: they are closed with `InternalError` and
   * the next connection loads the room again.
   */
  readonly onLoad?: ((ctx: LoadContext) => void | Promise<void>) | undefined
  /**
   * A write connection sent a validated, non-empty update (HOOK-3). Return nothing (or `{ ok: true }`) to accept
   * it, `{ ok: false, reason }` (or `false`) to refuse it ({@link HookVerdict}: any other value refuses too): the
   * writer is closed with `UpdateRefused` (4404, final) and nothing of the update is stored or forwarded; other connections carry on. A throw refuses it too, closing the writer with
   * `InternalError`. The connection's later updates wait (in order) until the hook has decided; other
   * connections are not held. Without this hook no promise is made per update.
   */
  readonly onUpdate?: ((ctx: UpdateContext) => HookVerdict | Promise<HookVerdict>) | undefined
  /**
   * Updates of a room became durable: a group commit reached the store under `clock` (HOOK-5). Calls for one room
   * are made in commit order, one at a time; a throw is logged and changes nothing (the updates are stored).
   * Commits made while a call runs wait as one call with the last one's clock (HOOK-5.3); a call not settled after
   * the relay's `hookTimeoutMs` (10 s by default) is given up with a warning (HOOK-5.2).
   */
  readonly onStored?: ((ctx: StoredContext) => void | Promise<void>) | undefined
  /**
   * A relay connection whose `onConnect` completed has closed (HOOK-4); called once per such connection. A throw
   * is logged; a call not settled after the relay's `hookTimeoutMs` is given up with a warning (HOOK-5.2).
   */
  readonly onDisconnect?: ((ctx: ConnectionContext) => void | Promise<void>) | undefined
}

/**
 * The decision of `onUpdate` (HOOK-3.9): nothing (`undefined`, `null`), `true` or `{ ok: true }` accepts; `false` or
 * `{ ok: false, reason }` refuses, with `reason` (a string; without one, `"update refused"`) as the close reason. Any
 * other value refuses too (plain JavaScript: `return db.insert(...)` refuses every update), so a mistake never lets
 * an update through.
 */
export type HookVerdict =
  void | null | boolean | { readonly ok: true } | { readonly ok: false; readonly reason?: string | undefined }

/** What {@link WeftHooks.authenticate} is given. */
export interface AuthenticateContext {
  /** The upgrade request (headers: cookies, `authorization`...). Its socket must not be touched. */
  readonly request: IncomingMessage
  /** `relay` (a room) or `signal` (y-webrtc signaling). */
  readonly endpoint: 'relay' | 'signal'
  /** The relay room asked for (`W/*` for the workspace endpoint's socket of workspace `W`), or `null` for signaling. */
  readonly room: string | null
  /** The client's address, as the per-address limits count it (behind trusted proxies: `X-Forwarded-For`). */
  readonly clientAddress: string
  /** The token the client sent (`?token=` or a `weft-token.` subprotocol), if any. */
  readonly token: string | undefined
  /** The verdict of the configured JWT verification, or `null` when no JWT secret or key is configured. */
  readonly jwt: AuthResult | null
  /**
   * Set when the relay decides again for a connection that is open (a revalidation, RELAY-4.5): its id and the grant
   * it holds now. `undefined` at the upgrade.
   */
  readonly connection?: { readonly id: number; readonly grant: RoomGrant } | undefined
}

/** One relay connection, as hooks see it. */
export interface ConnectionContext {
  /** The connection's id (also in its log lines as `conn`). */
  readonly id: number
  /** Its room. */
  readonly room: string
  /** What it may do in the room. */
  readonly access: Exclude<Access, 'none'>
  /** The grant it was accepted with (`subject`, `claims`, `expiresAt`). */
  readonly grant: RoomGrant
  /** The grant's subject (the token's `sub`), if any. */
  readonly subject: string | undefined
  /** The client's address, as the per-address limits count it. */
  readonly clientAddress: string
}

/** What {@link WeftHooks.onLoad} is given. */
export interface LoadContext {
  /** The room whose document was loaded. */
  readonly room: string
  /** The store clock of its last stored write (0 for a document the store does not have). */
  readonly clock: number
  /** Bytes of its state, as the relay holds it. */
  readonly bytes: number
}

/** What {@link WeftHooks.onUpdate} is given. */
export interface UpdateContext {
  /** The room the update is for. */
  readonly room: string
  /** The update (Yjs update format V1), validated; do not modify it. */
  readonly update: Uint8Array
  /** The connection that sent it. */
  readonly connection: ConnectionContext
}

/** What {@link WeftHooks.onStored} is given. */
export interface StoredContext {
  /** The room whose updates became durable. */
  readonly room: string
  /** The store clock of the last write of the commit. */
  readonly clock: number
}
