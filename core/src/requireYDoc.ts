import * as Y from 'yjs'
import { WeftError, WeftErrorCode } from './WeftError.js'

/** Whether `value` has the shape of a Y.Doc (whichever copy of yjs made it). */
const looksLikeYDoc = (value: unknown): boolean => {
  if (typeof value !== 'object' || value === null) return false
  const d = value as Record<string, unknown>
  return (
    typeof d.clientID === 'number' &&
    typeof d.guid === 'string' &&
    d.share instanceof Map &&
    typeof d.transact === 'function' &&
    typeof d.getMap === 'function'
  )
}

/**
 * Returns `doc` if it is a Y.Doc of the yjs module Weft uses; otherwise throws a {@link WeftError}
 * (`invalid-argument`). A Y.Doc from another copy of yjs (the CommonJS build next to the ES module, e.g. through
 * `createRequire`, or a second version in node_modules) is refused with a message naming that cause: Yjs itself
 * only warns, and then `instanceof` checks fail in both copies and updates, types and undo silently go wrong.
 * `where` names the API for the message (e.g. `"openDoc({ doc })"`).
 */
export const requireYDoc = (doc: unknown, where: string): Y.Doc => {
  if (doc instanceof Y.Doc) return doc
  if (looksLikeYDoc(doc))
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      `${where}: this Y.Doc was made by another copy of yjs than the one Weft uses: two copies of yjs are loaded ` +
        '(for example the ES module and the CommonJS build, or two versions in node_modules). Load exactly one: ' +
        'import yjs the same way everywhere, deduplicate it (`npm ls yjs`, `npm dedupe`) or alias it in the bundler.',
    )
  throw new WeftError(WeftErrorCode.InvalidArgument, `${where}: expected a Y.Doc`)
}
