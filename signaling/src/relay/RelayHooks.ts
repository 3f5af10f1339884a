import type { Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import type { ConnectionContext, HookVerdict, WeftHooks } from '../hooks.js'
import type { RelayPeer } from './RelayDoc.js'

/** What the hooks need of a connection's socket: whether it is open, and closing it with a named code. */
interface ClosableSocket {
  readonly open: boolean
  close(code: number, reason: string): void
}

/** One hooked connection: what the hooks are told about it, and its updates waiting for `onUpdate`. */
interface HookedConnection {
  readonly context: ConnectionContext
  readonly socket: ClosableSocket
  /** Settles when `onConnect` has (`onDisconnect` waits for it). */
  connected: Promise<unknown>
  /** Settles once every update handed to `onUpdate` so far is decided; `null` when none waits. Never rejects. */
  tail: Promise<void> | null
  /** Closed, refused or gone: its held updates are dropped, the hook is not asked again. */
  closed: boolean
}

/** What a decided update turns into: its durability, or a refusal (wrapped: an async function would flatten it). */
interface Decided {
  readonly durable: Promise<void>
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null | undefined)?.then === 'function'

/**
 * Runs a relay's {@link WeftHooks} for {@link RelayHub} (HOOK-2 to HOOK-5, docs/spec/relay-protocol.md): keeps each
 * hooked connection's context, holds a connection's updates in order while `onUpdate` decides (other connections
 * are not held), closes a refused writer with `UpdateRefused` and one whose hook threw with `InternalError`, and
 * turns every failure into a log line. Exists only when hooks are configured; without an `onUpdate` hook no update
 * passes through it.
 */
export class RelayHooks {
  readonly #hooks: WeftHooks
  readonly #logger: Logger
  /** The outcome of a refused update for whoever waits on it (rejected, never unhandled). */
  readonly #refused: (room: string) => Promise<void>
  readonly #connections = new Map<RelayPeer, HookedConnection>()
  /** `onStored` calls still running, per room (made one at a time, in commit order). */
  readonly #stored = new Map<string, Promise<void>>()
  /** Notifications (`onStored`, `onDisconnect`) not yet settled: {@link RelayHooks.settled} waits for them. */
  readonly #running = new Set<Promise<void>>()

  constructor(hooks: WeftHooks, logger: Logger, refused: (room: string) => Promise<void>) {
    this.#hooks = hooks
    this.#logger = logger
    this.#refused = refused
  }

  /** Whether updates pass through {@link RelayHooks.screen} (an `onUpdate` hook is set). */
  get screensUpdates(): boolean {
    return this.#hooks.onUpdate !== undefined
  }

  /** Whether connections are followed (`onConnect`, `onUpdate` or `onDisconnect` is set). */
  get followsConnections(): boolean {
    const h = this.#hooks
    return h.onConnect !== undefined || h.onUpdate !== undefined || h.onDisconnect !== undefined
  }

  /** Whether `onStored` is set. */
  get notifiesStored(): boolean {
    return this.#hooks.onStored !== undefined
  }

  /** Whether `onLoad` is set. */
  get screensLoads(): boolean {
    return this.#hooks.onLoad !== undefined
  }

  /**
   * HOOK-4: `conn` was accepted; resolves `true` once `onConnect` has run and the connection may join its room,
   * `false` if the hook threw (the connection is then closed with `InternalError`) or the connection closed meanwhile.
   */
  async connect(conn: RelayPeer, socket: ClosableSocket, context: ConnectionContext): Promise<boolean> {
    const hooked: HookedConnection = {
      context,
      socket,
      connected: Promise.resolve(),
      tail: null,
      closed: false,
    }
    this.#connections.set(conn, hooked)
    const onConnect = this.#hooks.onConnect
    if (!onConnect) return true
    const connected = (async () => onConnect(context))()
    hooked.connected = connected.catch(() => undefined)
    try {
      await connected
    } catch (err) {
      this.#failed(hooked, 'onConnect', err)
      this.disconnect(conn)
      return false
    }
    if (!socket.open) this.disconnect(conn)
    return socket.open
  }

  /**
   * HOOK-4: `conn` closed or was never served; calls `onDisconnect` once, after `onConnect` settled. Its updates that
   * still wait for `onUpdate` are dropped (never acknowledged, so a client sends them again when it reconnects).
   */
  disconnect(conn: RelayPeer): void {
    const hooked = this.#connections.get(conn)
    if (!hooked) return
    this.#connections.delete(conn)
    hooked.closed = true
    const onDisconnect = this.#hooks.onDisconnect
    if (!onDisconnect) return
    void this.#track(
      hooked.connected.then(() => onDisconnect(hooked.context)),
      'onDisconnect',
      { room: hooked.context.room, conn: hooked.context.id },
    )
  }

  /** HOOK-2: runs `onLoad` for a loaded room; a throw fails the load (the caller closes who waited). */
  async load(room: string, clock: number, bytes: number): Promise<void> {
    const onLoad = this.#hooks.onLoad
    if (!onLoad) return
    try {
      await onLoad({ room, clock, bytes })
    } catch (err) {
      this.#logger.error({ err, room, hook: 'onLoad' }, 'onLoad hook failed')
      throw err
    }
  }

  /**
   * HOOK-3: asks `onUpdate` about an update of `from` to `room` and calls `accept` (which stores and forwards it) only
   * if it is accepted; returns `accept`'s durability, or a rejected promise if refused. An update of a connection
   * whose earlier updates still wait is held behind them; a synchronous verdict with nothing waiting is decided at
   * once. Updates of peers that are not hooked connections (the scale-out bus) are accepted as they are.
   */
  screen(room: string, update: Uint8Array, from: RelayPeer, accept: () => Promise<void>): Promise<void> {
    const hooked = this.#connections.get(from)
    const onUpdate = this.#hooks.onUpdate
    if (!hooked || !onUpdate) return accept()
    if (hooked.closed) return this.#refused(room)
    const ask = () => onUpdate({ room, update, connection: hooked.context })
    if (hooked.tail === null) {
      let verdict: HookVerdict | Promise<HookVerdict>
      try {
        verdict = ask()
      } catch (err) {
        return this.#refuse(hooked, room, err).durable
      }
      if (!isThenable(verdict)) return this.#decide(hooked, room, verdict, accept).durable
      return this.#hold(hooked, () => verdict, room, accept)
    }
    return this.#hold(hooked, ask, room, accept)
  }

  /** Resolves once every update of `peers` that waits for `onUpdate` is decided (for acks of empty updates). */
  decided(peers: Iterable<RelayPeer>): Promise<void> | null {
    let waiting: Promise<void>[] | null = null
    for (const peer of peers) {
      const tail = this.#connections.get(peer)?.tail
      if (tail) (waiting ??= []).push(tail)
    }
    return waiting && Promise.all(waiting).then(() => undefined)
  }

  /** HOOK-5: updates of `room` became durable under `clock`. */
  stored(room: string, clock: number): void {
    const onStored = this.#hooks.onStored
    if (!onStored) return
    const previous = this.#stored.get(room) ?? Promise.resolve()
    const call = previous.then(() => onStored({ room, clock }))
    const done = this.#track(call, 'onStored', { room, clock })
    this.#stored.set(room, done)
    void done.then(() => {
      if (this.#stored.get(room) === done) this.#stored.delete(room)
    })
  }

  /** Resolves once every `onStored` and `onDisconnect` call made so far has settled (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running)
  }

  /** Queues `ask` behind the connection's earlier updates; its later updates queue behind it. */
  #hold(
    hooked: HookedConnection,
    ask: () => HookVerdict | Promise<HookVerdict>,
    room: string,
    accept: () => Promise<void>,
  ): Promise<void> {
    const step: Promise<Decided> = (hooked.tail ?? Promise.resolve()).then(async () => {
      if (hooked.closed) return { durable: this.#refused(room) }
      let verdict: HookVerdict
      try {
        verdict = await ask()
      } catch (err) {
        return this.#refuse(hooked, room, err)
      }
      // HOOK-3.4: the connection left while the hook decided: nothing of its update is kept.
      if (hooked.closed) return { durable: this.#refused(room) }
      return this.#decide(hooked, room, verdict, accept)
    })
    const tail = step.then(() => undefined)
    hooked.tail = tail
    void tail.then(() => {
      if (hooked.tail === tail) hooked.tail = null
    })
    const durable = step.then((decided) => decided.durable)
    // Nobody may be waiting (a stock client gets no acks): a refusal is never an unhandled rejection.
    durable.catch(() => undefined)
    return durable
  }

  #decide(
    hooked: HookedConnection,
    room: string,
    verdict: HookVerdict,
    accept: () => Promise<void>,
  ): Decided {
    if (verdict === undefined || verdict.ok) return { durable: accept() }
    hooked.closed = true
    this.#logger.warn(
      {
        room,
        conn: hooked.context.id,
        sub: hooked.context.subject,
        code: closeCodeName(CloseCode.UpdateRefused),
        reason: verdict.reason,
      },
      'update refused by the onUpdate hook',
    )
    hooked.socket.close(CloseCode.UpdateRefused, verdict.reason)
    return { durable: this.#refused(room) }
  }

  #refuse(hooked: HookedConnection, room: string, err: unknown): Decided {
    this.#failed(hooked, 'onUpdate', err)
    return { durable: this.#refused(room) }
  }

  /** A hook gating `hooked` threw: it is closed with `InternalError`, and the failure logged. */
  #failed(hooked: HookedConnection, hook: string, err: unknown): void {
    hooked.closed = true
    this.#logger.error(
      {
        err,
        hook,
        room: hooked.context.room,
        conn: hooked.context.id,
        code: closeCodeName(CloseCode.InternalError),
      },
      `${hook} hook failed`,
    )
    hooked.socket.close(CloseCode.InternalError, `${hook} hook failed`)
  }

  /** Keeps a notification's promise until it settles; a rejection becomes an error line. */
  #track(call: Promise<void>, hook: string, fields: object): Promise<void> {
    const done = call.then(
      () => undefined,
      (err: unknown) => this.#logger.error({ err, hook, ...fields }, `${hook} hook failed`),
    )
    this.#running.add(done)
    void done.then(() => this.#running.delete(done))
    return done
  }
}
