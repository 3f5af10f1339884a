/**
 * Presence fields that come from other peers, checked before they reach the page. Anyone who can join a room (a
 * read-only token is enough) sets its own awareness state, so `user.color` and `user.name` are untrusted input:
 * a colour is only ever a hex colour (never a CSS text that could carry other declarations), a name is plain text
 * of bounded length.
 */

const HEX_COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i

/** Shown for a peer whose colour is not a hex colour. */
export const FALLBACK_COLOR = '#9e9e9e'

/** Longest name shown, in characters. */
export const MAX_NAME_LENGTH = 64

/** `value` if it is a hex colour (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`), else {@link FALLBACK_COLOR}. */
export const presenceColor = (value: unknown): string =>
  typeof value === 'string' && HEX_COLOR.test(value) ? value : FALLBACK_COLOR

/** `value` as a display name: control characters dropped, cut to {@link MAX_NAME_LENGTH}; `'anonymous'` if empty. */
export const presenceName = (value: unknown): string => {
  const text = typeof value === 'string' ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim() : ''
  return text.length === 0 ? 'anonymous' : Array.from(text).slice(0, MAX_NAME_LENGTH).join('')
}
