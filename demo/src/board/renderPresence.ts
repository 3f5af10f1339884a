import type { Awareness } from 'y-protocols/awareness'
import type { Box } from './BoardModel.js'
import { renderCursor, renderSelection } from './renderBoard.js'

/** What a user shows others on the board (awareness field `board`). */
export interface BoardPresence {
  readonly cursor: { readonly x: number; readonly y: number } | null
  readonly selection: readonly string[]
}

/**
 * Collaborators' pointers (with their names) and selections (outlined in their colours), from awareness. Remote
 * states are untrusted: anything malformed is skipped.
 */
export const renderPresence = (
  awareness: Awareness,
  get: (id: string) => (Box & { id: string }) | undefined,
): Element[] => {
  const out: Element[] = []
  for (const [clientID, state] of awareness.getStates()) {
    if (clientID === awareness.clientID) continue
    const user = (state as { user?: { name?: unknown; color?: unknown } }).user
    const board = (state as { board?: Partial<BoardPresence> | null }).board
    if (!board || typeof user?.name !== 'string' || typeof user.color !== 'string') continue
    for (const id of Array.isArray(board.selection) ? board.selection : []) {
      const s = typeof id === 'string' ? get(id) : undefined
      if (s) out.push(renderSelection(s, user.color, user.name, false))
    }
    const c = board.cursor
    if (c && Number.isFinite(c.x) && Number.isFinite(c.y))
      out.push(renderCursor(c.x, c.y, user.name, user.color))
  }
  return out
}
