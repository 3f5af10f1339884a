import type { RoomGrant } from '../auth/RoomGrant.js'

/**
 * One open connection as {@link RevalidateFilter.where} sees it (RELAY-4.5): which endpoint, which room, and the
 * grant it holds now.
 */
export interface RevalidatedConnection {
  /**
   * The connection's id (its log lines' `conn`, `ConnectionContext.id`); `0` for an upgrade whose decision is still
   * under way (HOOK-1.6): it has no id yet.
   */
  readonly id: number
  /** `relay` (`<path>/<room>`), `workspace` (`<workspacePath>/<W>`) or `signal`. */
  readonly endpoint: 'relay' | 'workspace' | 'signal'
  /** The relay room, `W/*` for the socket of workspace `W`, or `null` for signaling. */
  readonly room: string | null
  /** The grant the connection holds now: the one it was accepted with, or the last revalidation's. */
  readonly grant: RoomGrant
  /** The grant's subject (the token's `sub`), if any. */
  readonly subject: string | undefined
  /** The client's address, as the per-address limits count it. */
  readonly clientAddress: string
}

/**
 * Which open connections `WeftRelay.revalidate` decides again; every field given must match (none: every
 * connection).
 */
export interface RevalidateFilter {
  /** Only connections whose grant's subject (the token's `sub`) is this one. */
  readonly subject?: string | undefined
  /**
   * Only connections that reach this room: relay connections to it, workspace sockets of its workspace (`W/D` or
   * `W/*`), signaling connections subscribed to it as a topic.
   */
  readonly room?: string | undefined
  /** Only connections for which this returns `true`. */
  readonly where?: ((connection: RevalidatedConnection) => boolean) | undefined
}

/** What one `WeftRelay.revalidate` call did (counts of connections, and of workspace documents). */
export interface RevalidateResult {
  /** Connections the filter matched and that were decided again. */
  readonly checked: number
  /** Connections whose access was unchanged (their grant may have been replaced: new claims, a new expiry). */
  readonly kept: number
  /** Relay connections (and workspace documents) whose `write` access became `read`: they stay, read-only. */
  readonly downgraded: number
  /** Connections closed: access gone (`AccessRevoked`), token expired (`TokenExpired`) or a failing hook (`InternalError`). */
  readonly closed: number
  /** Documents of workspace sockets whose access is gone: each refused with `AccessRevoked`, the socket stays. */
  readonly documentsRevoked: number
}

/** @internal Counts of a revalidation under way. */
export class RevalidateTally {
  checked = 0
  kept = 0
  downgraded = 0
  closed = 0
  documentsRevoked = 0

  /** Adds the counts of `other` (one connection's applied decision) to these. */
  add(other: RevalidateTally): void {
    this.checked += other.checked
    this.kept += other.kept
    this.downgraded += other.downgraded
    this.closed += other.closed
    this.documentsRevoked += other.documentsRevoked
  }

  get result(): RevalidateResult {
    const { checked, kept, downgraded, closed, documentsRevoked } = this
    return { checked, kept, downgraded, closed, documentsRevoked }
  }
}

/**
 * @internal Whether `connection` passes `filter`; `topics` are a signaling connection's subscriptions (for
 * {@link RevalidateFilter.room}), `'any'` for one not yet accepted (it may subscribe to any topic its grant gives).
 */
export const matchesRevalidateFilter = (
  filter: RevalidateFilter,
  connection: RevalidatedConnection,
  topics: ReadonlySet<string> | 'any' | null,
): boolean => {
  if (filter.subject !== undefined && connection.subject !== filter.subject) return false
  if (filter.room !== undefined && !reachesRoom(connection, filter.room, topics)) return false
  return filter.where ? filter.where(connection) : true
}

const reachesRoom = (
  connection: RevalidatedConnection,
  room: string,
  topics: ReadonlySet<string> | 'any' | null,
): boolean => {
  switch (connection.endpoint) {
    case 'relay':
      return connection.room === room
    case 'workspace': {
      // `W/*`: the workspace's own name followed by `/`.
      const prefix = connection.room?.slice(0, -1) ?? null
      return prefix !== null && room.startsWith(prefix)
    }
    case 'signal':
      return topics === 'any' || (topics?.has(room) ?? false)
  }
}

/**
 * @internal HOOK-1.6: the `revalidate()` calls made while one upgrade's decision was under way. A decision that
 * started before such a call and that a call's filter matches is made again before the connection is accepted: it
 * may have read what the app changed before calling `revalidate()`.
 */
export class PendingDecision {
  readonly #filters: RevalidateFilter[] = []

  /** A `revalidate(filter)` call began. */
  revalidating(filter: RevalidateFilter): void {
    this.#filters.push(filter)
  }

  /**
   * Whether a call made since the last `restart()` matches the connection the decision would accept (`id` 0, any
   * signaling topic); a filter whose `where` throws matches (deciding again is always safe).
   */
  overtaken(connection: RevalidatedConnection): boolean {
    return this.#filters.some((filter) => {
      try {
        return matchesRevalidateFilter(filter, connection, 'any')
      } catch {
        return true
      }
    })
  }

  /** A new decision begins: only the calls from now on concern it. */
  restart(): void {
    this.#filters.length = 0
  }
}

/** @internal What a re-decision's callers get when a later one of the same connection was applied instead. */
export const SUPERSEDED = Symbol('superseded')

/** One re-decision under way: `overtaken` once a call came in after it began (its verdict is then not applied). */
interface RunningDecision {
  overtaken: boolean
}

/**
 * @internal HOOK-1.6, RELAY-4.5: the re-decisions `revalidate()` makes of one open connection. At most one is under
 * way; calls made meanwhile mark it overtaken (its verdict is not applied: it may have read what the app changed
 * before calling) and share one decision made after it, however many they are. So N calls during one decision cost
 * at most two hook calls, and the verdict applied is one made after the last call began. A decision that has not
 * settled within `timeoutMs` stops holding the next one back (its verdict, when it comes, is not applied).
 */
export class Redecision<O> {
  readonly #timeoutMs: number
  #current: RunningDecision | null = null
  /** Settles when the decision under way settles, or its `timeoutMs` passed. */
  #running: Promise<void> | null = null
  /** The decision that starts after the one under way, shared by every call made meanwhile. */
  #queued: Promise<O | typeof SUPERSEDED> | null = null

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  /**
   * Decides (`decide`) and applies the verdict (`apply`), now or, with a decision under way, once after it: resolves
   * with what `apply` returned, or {@link SUPERSEDED} when a later call overtook this decision.
   */
  run<R>(decide: () => Promise<R>, apply: (verdict: R) => O): Promise<O | typeof SUPERSEDED> {
    if (this.#queued) return this.#queued
    const running = this.#running
    if (!running || !this.#current) return this.#start(decide, apply)
    this.#current.overtaken = true
    const queued = running.then(() => {
      this.#queued = null
      return this.#start(decide, apply)
    })
    this.#queued = queued
    return queued
  }

  #start<R>(decide: () => Promise<R>, apply: (verdict: R) => O): Promise<O | typeof SUPERSEDED> {
    const run: RunningDecision = { overtaken: false }
    this.#current = run
    const outcome = decide().then((verdict) =>
      run.overtaken || this.#current !== run ? SUPERSEDED : apply(verdict),
    )
    let timer: NodeJS.Timeout | undefined
    const running = Promise.race([
      outcome.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#timeoutMs)
        timer.unref()
      }),
    ]).then(() => {
      clearTimeout(timer)
      if (this.#running === running) {
        this.#running = null
        // Timed out: whatever it brings later is stale.
        run.overtaken = true
      }
    })
    this.#running = running
    return outcome
  }
}
