/** Where the browser's `online` event comes from: the window, a worker's global scope, or a test's `EventTarget`. */
export type OnlineEvents = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>

/** `globalThis` when it can dispatch events (a window or a worker), else null (Node). */
export const defaultOnlineEvents = (): OnlineEvents | null => {
  const g = globalThis as Partial<OnlineEvents>
  return typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
    ? (g as OnlineEvents)
    : null
}

/**
 * Calls `onOnline` on every `online` event of a target, while switched on. A transport switches it on when it wants
 * to be connected and off when it stops, so that a reconnect waiting out its backoff is cut short when the network
 * comes back (PROV-2.7, PROV-4.4).
 */
export class OnlineListener {
  readonly #target: OnlineEvents | null
  readonly #onOnline: () => void
  #on = false

  /** `target` undefined takes {@link defaultOnlineEvents}; null listens to nothing. */
  constructor(target: OnlineEvents | null | undefined, onOnline: () => void) {
    this.#target = target === undefined ? defaultOnlineEvents() : target
    this.#onOnline = onOnline
  }

  /** Starts (`true`) or stops (`false`) listening; idempotent. */
  listen(on: boolean): void {
    const target = this.#target
    if (!target || on === this.#on) return
    this.#on = on
    if (on) target.addEventListener('online', this.#handle)
    else target.removeEventListener('online', this.#handle)
  }

  readonly #handle = (): void => this.#onOnline()
}
