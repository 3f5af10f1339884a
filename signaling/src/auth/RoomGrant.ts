/** What a connection may do in one room. */
export type Access = 'none' | 'read' | 'write'

/**
 * The rooms a verified token grants: keys are room names or prefixes ending in `*` (`"team-*"`, or `"*"` for every
 * room). The most specific key wins: an exact name before any prefix, a longer prefix before a shorter one.
 */
export class RoomGrant {
  readonly #exact = new Map<string, Exclude<Access, 'none'>>()
  /** Prefixes, longest first. */
  readonly #prefixes: Array<readonly [string, Exclude<Access, 'none'>]> = []

  constructor(
    rooms: Readonly<Record<string, Exclude<Access, 'none'>>>,
    /**
     * When the grant ends (epoch milliseconds): the token's `exp` plus the clock tolerance; `undefined` for never.
     */
    readonly expiresAt?: number,
    /** The token's subject, for logs. */
    readonly subject?: string,
    /**
     * The verified token's claims (its JWT payload), or what an `authenticate` hook put there; the hooks see them
     * (`ConnectionContext.grant`). Never logged.
     */
    readonly claims?: Readonly<Record<string, unknown>>,
  ) {
    for (const [key, access] of Object.entries(rooms)) {
      if (key.endsWith('*')) this.#prefixes.push([key.slice(0, -1), access])
      else this.#exact.set(key, access)
    }
    this.#prefixes.sort((a, b) => b[0].length - a[0].length)
  }

  /** A grant of `write` on every room, used when the server runs without auth. */
  static open(): RoomGrant {
    return new RoomGrant({ '*': 'write' })
  }

  /** Whether the grant has ended at `now` (epoch milliseconds; default the current time). */
  expired(now: number = Date.now()): boolean {
    return this.expiresAt !== undefined && now >= this.expiresAt
  }

  /** The access this grant gives to `room`. */
  access(room: string): Access {
    const exact = this.#exact.get(room)
    if (exact) return exact
    for (const [prefix, access] of this.#prefixes) if (room.startsWith(prefix)) return access
    return 'none'
  }

  /**
   * Whether this grant gives `write` on every room whose name starts with `prefix` (`"team/"`: every document of
   * workspace `team`): a prefix key that `prefix` starts with gives `write`, and no more specific key (an exact name or
   * a longer prefix under `prefix`) gives less. `{ "team/*": "write", "team/secret": "read" }` is not such a grant.
   */
  writesAll(prefix: string): boolean {
    for (const [room, access] of this.#exact) if (room.startsWith(prefix) && access !== 'write') return false
    for (const [p, access] of this.#prefixes) {
      // Longest first: the first prefix that `prefix` itself starts with governs the rooms no longer key names.
      if (p.startsWith(prefix) && access !== 'write') return false
      if (prefix.startsWith(p)) return access === 'write'
    }
    return false
  }
}
