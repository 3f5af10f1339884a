import type { DemoUser } from '../identity.js'
import type { DemoSettings } from '../settings.js'
import { h } from './h.js'

/** What the settings panel reports. */
export interface SettingsHandlers {
  settings(settings: DemoSettings): void
  user(user: DemoUser): void
}

/** Settings: use the relay or not, WebRTC or not (the document reopens), and this user's name and colour. */
export const createSettingsView = (
  settings: DemoSettings,
  user: DemoUser,
  version: number,
  on: SettingsHandlers,
): HTMLElement => {
  const relay = h('input', { type: 'checkbox', 'data-testid': 'use-relay' })
  const webrtc = h('input', { type: 'checkbox', 'data-testid': 'use-webrtc' })
  relay.checked = settings.relay
  webrtc.checked = settings.webrtc
  const changed = () => on.settings({ relay: relay.checked, webrtc: webrtc.checked })
  relay.addEventListener('change', changed)
  webrtc.addEventListener('change', changed)
  const name = h('input', { 'data-testid': 'user-name', 'aria-label': 'Your name', maxlength: '32' })
  name.value = user.name
  const color = h('input', { type: 'color', 'data-testid': 'user-color', 'aria-label': 'Your colour' })
  color.value = user.color
  const userChanged = () => on.user({ ...user, name: name.value.trim() || 'Anonymous', color: color.value })
  name.addEventListener('change', userChanged)
  color.addEventListener('change', userChanged)
  return h(
    'details',
    { class: 'settings' },
    h('summary', { 'data-testid': 'settings' }, 'Settings'),
    h(
      'div',
      { class: 'dropdown' },
      h('label', {}, relay, ' Sync through the relay (/relay)'),
      h('label', {}, webrtc, ' Sync peer to peer (WebRTC, found through /signal)'),
      h('label', {}, 'Name ', name, ' ', color),
      h('p', { class: 'muted' }, `Schema v${version} (open with ?schema=2 to try v2)`),
    ),
  )
}
