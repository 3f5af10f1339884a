/**
 * Throws `<what> nested deeper than <max> levels` if the arrays and objects of a JSON text nest deeper than `max`
 * (brackets inside strings are text). One scan of the characters, no recursion: checked before `JSON.parse`, whose
 * result a reader later walks recursively (awareness states, SYNC-6.4; JSON contents of an update, SYNC-3.5).
 */
export const checkJsonDepth = (text: string, max: number, what: string): void => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new Error(`${what} nested deeper than ${max} levels`)
    } else if (c === 0x5d || c === 0x7d) depth--
  }
}
