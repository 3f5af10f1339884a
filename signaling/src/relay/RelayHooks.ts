import type { Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import type { ConnectionContext, HookVerdict, WeftHooks } from '../hooks.js'
import type { CounterHandle } from '../metrics/FastCounter.js'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { HeldInput, Hold } from './HeldInput.js'
import { refusalOf } from './refusalOf.js'
import { RELAY_DEFAULTS } from './RelayOptions.js'
import type { RelayPeer } from './RelayRoom.js'

/** One update held while `onUpdate` decides it or an earlier one of its connection. */
interface HeldUpdate {
  readonly room: string
  readonly update: Uint8Array
  readonly accept: () => Promise<void>
  /** Settles the promise {@link RelayHooks.screen} returned with the update's outcome. */
  readonly settle: (durable: Promise<void>) => void
  /** Its bytes, held for the connection until its verdict (dropped if the connection closes first). */
  readonly hold: Hold
}

/** One hooked connection: what the hooks are told about it, and its updates waiting for `onUpdate`. */
interface HookedConnection {
  /** Replaced when a revalidation gives the connection a new grant (RELAY-4.7). */
  context: ConnectionContext
  /** Its socket, and what it holds in memory (its updates waiting for a verdict, or for a rules rebuild). */
  readonly input: HeldInput
  /** Settles when `onConnect` has (`onDisconnect` waits for it). */
  connected: Promise<unknown>
  /** Updates not yet handed to `onUpdate`, in arrival order (the one being decided is not among them). */
  readonly queue: HeldUpdate[]
  /** An `onUpdate` call of this connection is pending. */
  deciding: boolean
  /** Resolved once nothing of this connection waits for `onUpdate` (created by {@link RelayHooks.decided}). */
  idle: { readonly promise: Promise<void>; readonly resolve: () => void } | null
}

const deferredVoid = (): { promise: Promise<void>; resolve: () => void } => {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** What a reporting hook's call that outlived the timeout is taken as (HOOK-5.2). */
const TIMED_OUT = Symbol('timed out')

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
  /**
   * Rooms with an `onStored` call running (made one at a time, in commit order), and the one call each may have
   * waiting behind it (HOOK-5.3: the clock of the room's last commit since, and how many commits it stands for).
   */
  readonly #stored = new Map<string, { waiting: { clock: number; commits: number } | null }>()
  /** HOOK-5.2: how long a call of a reporting hook (`onStored`, `onDisconnect`) is awaited. */
  readonly #timeoutMs: number
  readonly #timeouts: { readonly onStored: CounterHandle; readonly onDisconnect: CounterHandle } | null
  readonly #coalesced: CounterHandle | null
  /** Notifications (`onStored`, `onDisconnect`) not yet settled: {@link RelayHooks.settled} waits for them. */
  readonly #running = new Set<Promise<void>>()

  /**
   * `options.timeoutMs`: how long one `onStored` or `onDisconnect` call is awaited (HOOK-5.2; default
   * `RELAY_DEFAULTS.hookTimeoutMs`); `options.metrics`: where timeouts and coalesced calls are counted.
   */
  constructor(
    hooks: WeftHooks,
    logger: Logger,
    refused: (room: string) => Promise<void>,
    options: { readonly timeoutMs?: number; readonly metrics?: ServerMetrics } = {},
  ) {
    this.#hooks = hooks
    this.#logger = logger
    this.#refused = refused
    this.#timeoutMs = options.timeoutMs ?? RELAY_DEFAULTS.hookTimeoutMs
    const metrics = options.metrics
    this.#timeouts = metrics
      ? {
          onStored: metrics.hookTimeouts.labels({ hook: 'onStored' }),
          onDisconnect: metrics.hookTimeouts.labels({ hook: 'onDisconnect' }),
        }
      : null
    this.#coalesced = metrics?.hookCallsCoalesced.labels({ hook: 'onStored' }) ?? null
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
  async connect(conn: RelayPeer, input: HeldInput, context: ConnectionContext): Promise<boolean> {
    const hooked: HookedConnection = {
      context,
      input,
      connected: Promise.resolve(),
      queue: [],
      deciding: false,
      idle: null,
    }
    this.#connections.set(conn, hooked)
    // However it closes (a refusal here, past a bound, a refusal of the rules, gone): its held updates are dropped.
    input.onClose(() => this.#closed(hooked))
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
    if (!input.open) this.disconnect(conn)
    return input.open
  }

  /**
   * HOOK-4: `conn` closed or was never served; calls `onDisconnect` once, after `onConnect` settled. Everything it
   * holds is dropped (HOOK-3.4: never acknowledged, so a client sends it again when it reconnects).
   */
  disconnect(conn: RelayPeer): void {
    const hooked = this.#connections.get(conn)
    if (!hooked) return
    this.#connections.delete(conn)
    hooked.input.drop()
    const onDisconnect = this.#hooks.onDisconnect
    if (!onDisconnect) return
    void this.#track(
      hooked.connected.then(() => onDisconnect(hooked.context)),
      'onDisconnect',
      { room: hooked.context.room, conn: hooked.context.id },
    )
  }

  /**
   * RELAY-4.7: a revalidation gave `conn` a new grant: its updates not yet handed to `onUpdate` reach it with
   * `context` (the new access, grant and subject), and `onDisconnect` gets it too.
   */
  regrant(conn: RelayPeer, context: ConnectionContext): void {
    const hooked = this.#connections.get(conn)
    if (hooked) hooked.context = context
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
   *
   * HOOK-3.6: what a connection holds while the hook decides is held by its {@link HeldInput} (charged to the
   * server's input budget, bounded; past the bound the connection is closed with `RateLimited`); HOOK-3.4: once the
   * connection is closed, its waiting updates are dropped, never acknowledged.
   */
  screen(room: string, update: Uint8Array, from: RelayPeer, accept: () => Promise<void>): Promise<void> {
    const hooked = this.#connections.get(from)
    const onUpdate = this.#hooks.onUpdate
    if (!hooked || !onUpdate) return accept()
    if (hooked.input.closed) return this.#refused(room)
    if (!hooked.deciding) {
      let verdict: HookVerdict | Promise<HookVerdict>
      try {
        verdict = onUpdate({ room, update, connection: hooked.context })
      } catch (err) {
        this.#failed(hooked, 'onUpdate', err)
        return this.#refused(room)
      }
      if (!isThenable(verdict)) return this.#decide(hooked, room, verdict, accept)
      const held = this.#hold(hooked, room, update, accept)
      if (!held) return this.#refused(room)
      this.#await(hooked, held.update, verdict)
      return held.outcome
    }
    // Queued behind the update being decided (HOOK-3.6: bounded, one update always may wait, however large).
    const held = this.#hold(hooked, room, update, accept)
    if (!held) return this.#refused(room)
    hooked.queue.push(held.update)
    return held.outcome
  }

  /** Resolves once every update of `peers` that waits for `onUpdate` is decided (for acks of empty updates). */
  decided(peers: Iterable<RelayPeer>): Promise<void> | null {
    let waiting: Promise<void>[] | null = null
    for (const peer of peers) {
      const hooked = this.#connections.get(peer)
      // A closed connection's updates are dropped, never stored: nothing of it to wait for.
      if (!hooked?.deciding || hooked.input.closed) continue
      hooked.idle ??= deferredVoid()
      ;(waiting ??= []).push(hooked.idle.promise)
    }
    return waiting && Promise.all(waiting).then(() => undefined)
  }

  /**
   * HOOK-5: updates of `room` became durable under `clock`. HOOK-5.1: with no call of the room running, the hook is
   * called at once, and only a promise it returns is kept (a synchronous hook costs no promise per
   * commit). HOOK-5.3: otherwise at most one call waits behind the running one: commits made
   * meanwhile join it (its clock becomes the last one's), counted and logged when it is made.
   */
  stored(room: string, clock: number): void {
    if (!this.#hooks.onStored) return
    const queue = this.#stored.get(room)
    if (!queue) return this.#callStored(room, clock, 1)
    if (queue.waiting) {
      queue.waiting.clock = clock
      queue.waiting.commits++
      this.#coalesced?.inc()
    } else queue.waiting = { clock, commits: 1 }
  }

  /** Calls `onStored` for `room` (standing for `commits` commits, the last under `clock`), then the one waiting. */
  #callStored(room: string, clock: number, commits: number): void {
    const onStored = this.#hooks.onStored
    if (!onStored) return
    if (commits > 1) this.#logger.warn({ room, clock, commits, hook: 'onStored' }, 'onStored calls coalesced')
    let call: unknown
    try {
      call = onStored({ room, clock })
      if (!isThenable(call)) return
    } catch (err) {
      call = Promise.reject(err as Error)
    }
    const queue = { waiting: null as { clock: number; commits: number } | null }
    this.#stored.set(room, queue)
    void this.#track(call as PromiseLike<unknown>, 'onStored', { room, clock }).then(() => {
      const waiting = queue.waiting
      if (this.#stored.get(room) === queue) this.#stored.delete(room)
      if (waiting) this.#callStored(room, waiting.clock, waiting.commits)
    })
  }

  /** Resolves once every `onStored` and `onDisconnect` call made so far has settled (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running)
  }

  /** A promise for an update's outcome that its resolver settles with the durability (or refusal) it gets. */
  #outcome(executor: (settle: (durable: Promise<void>) => void) => void): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) =>
      executor((durable) => void durable.then(resolve, reject)),
    )
    // Nobody may be waiting (a stock client gets no acks): a refusal is never an unhandled rejection.
    outcome.catch(() => undefined)
    return outcome
  }

  /**
   * HOOK-3.6: `update` waits for its verdict: held by the connection (charged to the input budget, bounded); `null`
   * when it may not wait (the connection was closed, past the bound with `RateLimited`).
   */
  #hold(
    hooked: HookedConnection,
    room: string,
    update: Uint8Array,
    accept: () => Promise<void>,
  ): { update: HeldUpdate; outcome: Promise<void> } | null {
    let settle!: (durable: Promise<void>) => void
    const outcome = this.#outcome((resolve) => (settle = resolve))
    // HOOK-3.4: dropped when the connection closes first (refused: never stored or acknowledged).
    const hold = hooked.input.hold(update.byteLength, 'the onUpdate hook', () => settle(this.#refused(room)))
    return hold && { update: { room, update, accept, settle, hold }, outcome }
  }

  /** Waits for the verdict on `held` (its hook call pending), then decides the connection's next held update. */
  #await(hooked: HookedConnection, held: HeldUpdate, verdict: PromiseLike<HookVerdict>): void {
    hooked.deciding = true
    const decided = (outcome: { verdict: HookVerdict } | { err: unknown }) => {
      // Closed meanwhile: dropped (HOOK-3.4), refused when the connection closed.
      if (!held.hold.release()) return this.#idle(hooked)
      if ('err' in outcome) {
        this.#failed(hooked, 'onUpdate', outcome.err)
        held.settle(this.#refused(held.room))
      } else {
        held.settle(this.#decide(hooked, held.room, outcome.verdict, held.accept))
      }
      this.#next(hooked)
    }
    // HOOK-3.9: nothing of a verdict escapes as an unhandled rejection; a fault while applying it (none is known)
    // closes the writer as a throw of the hook does, and the connection's later updates are dropped.
    Promise.resolve(verdict)
      .then(
        (v) => decided({ verdict: v }),
        (err: unknown) => decided({ err }),
      )
      .catch((err: unknown) => {
        this.#failed(hooked, 'onUpdate', err)
        held.settle(this.#refused(held.room))
        this.#idle(hooked)
      })
  }

  /** Hands the connection's next waiting update to `onUpdate`, deciding synchronous verdicts in a loop. */
  #next(hooked: HookedConnection): void {
    const onUpdate = this.#hooks.onUpdate
    for (;;) {
      const held = hooked.queue.shift()
      if (hooked.input.closed || !held || !onUpdate) return this.#idle(hooked)
      let verdict: HookVerdict | Promise<HookVerdict>
      try {
        verdict = onUpdate({ room: held.room, update: held.update, connection: hooked.context })
      } catch (err) {
        held.hold.release()
        this.#failed(hooked, 'onUpdate', err)
        held.settle(this.#refused(held.room))
        return this.#idle(hooked)
      }
      if (isThenable(verdict)) return this.#await(hooked, held, verdict)
      held.hold.release()
      held.settle(this.#decide(hooked, held.room, verdict, held.accept))
    }
  }

  /** Nothing of `hooked` waits for `onUpdate` any more (decided, or dropped because it closed). */
  #idle(hooked: HookedConnection): void {
    if (hooked.input.closed) hooked.input.drop()
    hooked.deciding = false
    hooked.idle?.resolve()
    hooked.idle = null
  }

  /**
   * `hooked` closed, was refused or is gone: its held updates were dropped (refused, never acknowledged, their bytes
   * given back); a hook call still pending is left to settle and then ignored.
   */
  #closed(hooked: HookedConnection): void {
    hooked.queue.length = 0
    hooked.idle?.resolve()
    hooked.idle = null
  }

  /** The verdict on one update: `accept`'s durability, or a refusal that closes the writer (HOOK-3.1). */
  #decide(
    hooked: HookedConnection,
    room: string,
    verdict: HookVerdict,
    accept: () => Promise<void>,
  ): Promise<void> {
    if (hooked.input.closed) return this.#refused(room)
    // HOOK-3.9: whatever the hook returned, read in one place (never throws).
    const reason = refusalOf(verdict)
    if (reason === null) return accept()
    this.#logger.warn(
      {
        room,
        conn: hooked.context.id,
        sub: hooked.context.subject,
        code: closeCodeName(CloseCode.UpdateRefused),
        reason,
      },
      'update refused by the onUpdate hook',
    )
    hooked.input.close(CloseCode.UpdateRefused, reason)
    return this.#refused(room)
  }

  /** A hook gating `hooked` threw: it is closed with `InternalError`, and the failure logged. */
  #failed(hooked: HookedConnection, hook: string, err: unknown): void {
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
    hooked.input.close(CloseCode.InternalError, `${hook} hook failed`)
  }

  /**
   * Keeps a reporting hook's pending call until it settles or `timeoutMs` passed (HOOK-5.2: a warning, counted; its
   * later outcome is ignored); a rejection becomes an error line. The returned promise never rejects.
   */
  #track(call: PromiseLike<unknown>, hook: 'onStored' | 'onDisconnect', fields: object): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.#timeoutMs)
      timer.unref?.()
    })
    const done = Promise.race([Promise.resolve(call), timedOut]).then(
      (outcome) => {
        clearTimeout(timer)
        if (outcome !== TIMED_OUT) return
        this.#timeouts?.[hook].inc()
        this.#logger.warn({ hook, timeoutMs: this.#timeoutMs, ...fields }, `${hook} hook timed out`)
      },
      (err: unknown) => {
        clearTimeout(timer)
        this.#logger.error({ err, hook, ...fields }, `${hook} hook failed`)
      },
    )
    this.#running.add(done)
    void done.then(() => this.#running.delete(done))
    return done
  }
}
