/** Which paths the page uses; kept in localStorage, changed in the settings panel. */
export interface DemoSettings {
  /** Sync through the server's storing relay (`/relay`). */
  readonly relay: boolean
  /** Sync browser to browser over WebRTC (found through `/signal`). */
  readonly webrtc: boolean
}

const KEY = 'weft-demo:settings'
const DEFAULTS: DemoSettings = { relay: true, webrtc: true }

/** The saved settings (defaults: relay and WebRTC on). */
export const loadSettings = (): DemoSettings => {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(KEY) ?? 'null')
    if (typeof raw !== 'object' || raw === null) return DEFAULTS
    const r = raw as Record<string, unknown>
    return {
      relay: typeof r['relay'] === 'boolean' ? r['relay'] : DEFAULTS.relay,
      webrtc: typeof r['webrtc'] === 'boolean' ? r['webrtc'] : DEFAULTS.webrtc,
    }
  } catch {
    return DEFAULTS
  }
}

/** Saves the settings. */
export const saveSettings = (settings: DemoSettings): void =>
  localStorage.setItem(KEY, JSON.stringify(settings))

/** The server this page was served from: relay at `ws(s)://<host>/relay`, signaling at `ws(s)://<host>/signal`. */
export const serverUrls = (loc: Location = location): { readonly relay: string; readonly signal: string } => {
  const ws = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  return { relay: `${ws}//${loc.host}/relay`, signal: `${ws}//${loc.host}/signal` }
}

/** On a loopback host no STUN server is needed (and none may be reachable): WebRTC uses host candidates only. */
export const isLoopback = (loc: Location = location): boolean =>
  loc.hostname === 'localhost' || loc.hostname === '[::1]' || /^127\./.test(loc.hostname)

/** The schema version this page writes: 1, or 2 with `?schema=2` (to try a newer app on the same document). */
export const schemaVersionFromUrl = (loc: Location = location): 1 | 2 =>
  new URLSearchParams(loc.search).get('schema') === '2' ? 2 : 1
