import type { WeftDoc } from '@weft/providers'
import { readPaths } from '../announcePaths.js'

/** Someone on the open document. */
export interface Collaborator {
  readonly clientID: number
  readonly name: string
  readonly color: string
  /** Paths their presence arrives over (`relay`, `webrtc`, `tabs`); empty for oneself. */
  readonly via: readonly string[]
  readonly self: boolean
}

const PATH_EVENTS = ['peer-joined', 'peer-left', 'peer-synced'] as const

type AwarenessUpdate = { added: number[]; updated: number[]; removed: number[] }

/** The transport kind of an awareness update's origin: the sync session applies them with the peer path. */
const kindOf = (origin: unknown): string | null => {
  if (typeof origin !== 'object' || origin === null || !('transport' in origin)) return null
  const t = origin.transport
  return typeof t === 'object' && t !== null && 'kind' in t && typeof t.kind === 'string' ? t.kind : null
}

/**
 * Who is here and over which path. A collaborator that announces its path ids (`weftPaths`) is reached `webrtc` /
 * `tabs` when one of this page's open paths leads to that id, and `relay` when both sides' relay connections are
 * up. For others (stock clients), the kinds of the paths their awareness updates arrived over are shown.
 */
export class PresenceTracker {
  readonly #handle: WeftDoc
  readonly #heard = new Map<number, Set<string>>()
  readonly #listeners = new Set<() => void>()

  constructor(handle: WeftDoc) {
    this.#handle = handle
    handle.awareness.on('update', this.#onUpdate)
    handle.awareness.on('change', this.#notify)
    handle.on('status', this.#notify)
    // paths may open and close without a status change (e.g. a WebRTC peer leaves while the relay stays synced)
    for (const ev of PATH_EVENTS) handle.session.on(ev, this.#notify)
  }

  readonly #onUpdate = ({ added, updated, removed }: AwarenessUpdate, origin: unknown): void => {
    const kind = kindOf(origin)
    for (const id of removed) this.#heard.delete(id)
    if (kind === null) return
    for (const id of [...added, ...updated]) {
      const kinds = this.#heard.get(id) ?? new Set<string>()
      kinds.add(kind)
      this.#heard.set(id, kinds)
    }
  }

  readonly #notify = (): void => {
    for (const l of this.#listeners) l()
  }

  /** Everyone present, oneself first. */
  list(): Collaborator[] {
    const aw = this.#handle.awareness
    const paths = this.#handle.paths
    const open = new Set(paths.map((p) => p.kind))
    const reaches = (kind: string, peer: string | null) =>
      peer !== null && paths.some((p) => p.kind === kind && String(p.peer) === peer)
    const out: Collaborator[] = []
    for (const [clientID, state] of aw.getStates()) {
      const user = (state as { user?: { name?: unknown; color?: unknown } }).user
      if (typeof user?.name !== 'string' || typeof user.color !== 'string') continue
      const self = clientID === aw.clientID
      const announced = readPaths(state)
      const via = self
        ? []
        : announced
          ? [
              ...(open.has('relay') && announced.relay ? ['relay'] : []),
              ...(reaches('tabs', announced.tabs) ? ['tabs'] : []),
              ...(reaches('webrtc', announced.webrtc) ? ['webrtc'] : []),
            ]
          : [...(this.#heard.get(clientID) ?? [])].filter((k) => open.has(k)).sort()
      out.push({ clientID, name: user.name, color: user.color, via, self })
    }
    return out.sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
  }

  /** Calls `listener` when presence or the open paths change. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  destroy(): void {
    this.#handle.awareness.off('update', this.#onUpdate)
    this.#handle.awareness.off('change', this.#notify)
    this.#handle.off('status', this.#notify)
    for (const ev of PATH_EVENTS) this.#handle.session.off(ev, this.#notify)
    this.#listeners.clear()
  }
}
