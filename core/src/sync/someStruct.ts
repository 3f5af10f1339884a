import * as Y from 'yjs'

/**
 * Calls `visit` on each struct of `client` in `doc` that overlaps `[clock, clock + len)`, clipped to what `doc` holds
 * of `client`, with the overlap `[from, to)`, until `visit` returns true; returns whether it did. The one walk over a
 * client's structs by id range for the rollback (RULES-5.10, 5.13, 5.16) and the refused scope.
 */
export const someStruct = (
  doc: Y.Doc,
  client: number,
  clock: number,
  len: number,
  visit: (s: Y.Item | Y.GC, from: number, to: number) => boolean | void,
): boolean => {
  const structs = doc.store.clients.get(client)
  const end = Math.min(clock + len, Y.getState(doc.store, client))
  if (!structs || clock >= end) return false
  for (let i = Y.findIndexSS(structs, clock); i < structs.length; i++) {
    const s = structs[i] as Y.Item | Y.GC
    if (s.id.clock >= end) break
    if (visit(s, Math.max(s.id.clock, clock), Math.min(s.id.clock + s.length, end)) === true) return true
  }
  return false
}
