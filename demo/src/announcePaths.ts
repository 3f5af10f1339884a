import type { Awareness } from 'y-protocols/awareness'

/** The awareness field in which a page tells others how to recognise its peer paths. */
export const PATHS_FIELD = 'weftPaths'

/** What a page announces: its WebRTC peer id, its tab id, and whether it uses the relay. */
export interface AnnouncedPaths {
  readonly webrtc: string | null
  readonly tabs: string | null
  readonly relay: boolean
}

/** The ids this page's transports go by, as others see them in `handle.paths[].peer`. */
export interface LocalPathIds {
  readonly relay: boolean
  readonly webrtc: { readonly localPeer: string } | null
  readonly tabs: { readonly id: string } | null
}

/**
 * Announces this page's path ids in awareness, once, so that a collaborator's page can tell over which of its
 * open paths it reaches this one: directly (`webrtc`, `tabs`) or through the relay.
 *
 * Deliberately not updated when a connection drops: a state change sent while this client goes offline travels
 * over the paths still open, and the sync session forwards it to the relay on behalf of another peer, after which
 * the relay no longer removes this client when its own connection closes (reported to core).
 */
export const announcePaths = (awareness: Awareness, ids: LocalPathIds): void => {
  const paths: AnnouncedPaths = {
    webrtc: ids.webrtc?.localPeer ?? null,
    tabs: ids.tabs?.id ?? null,
    relay: ids.relay,
  }
  awareness.setLocalStateField(PATHS_FIELD, paths)
}

/** Reads a collaborator's announcement (`null` if missing or malformed: stock clients announce nothing). */
export const readPaths = (state: unknown): AnnouncedPaths | null => {
  const p = (state as Record<string, unknown> | null)?.[PATHS_FIELD]
  if (typeof p !== 'object' || p === null) return null
  const { webrtc, tabs, relay } = p as Record<string, unknown>
  return {
    webrtc: typeof webrtc === 'string' ? webrtc : null,
    tabs: typeof tabs === 'string' ? tabs : null,
    relay: relay === true,
  }
}
