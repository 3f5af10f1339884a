import type * as Y from 'yjs'
import { WeftError, WeftErrorCode } from '@weft/core'
import type { WeftDoc } from './WeftDoc.js'

/**
 * Binds app code (an editor binding, an `UndoManager`, observers) to the handle's `Y.Doc` now and again after every
 * epoch change, which replaces the `Y.Doc` when the document was opened with `epochs: 'live'`
 * (docs/guides/compaction.md; in the default mode the `Y.Doc` never changes and `bind` runs once): `bind` is called with the current document
 * and may return a cleanup, which runs before `bind` is called with the next document. Returns a function that stops
 * rebinding and runs the last cleanup; call it before `handle.destroy()`. A `bind` or cleanup that throws during a
 * switch is reported as an `error` event (`observer-failed`) of the handle; the first call's exception is thrown
 * (PROV-5.15).
 *
 * ```ts
 * const handle = await openDoc({ docId: 'notes', store, relay, epochs: 'live' })
 * const unbind = bindEachEpoch(handle, (doc) => {
 *   const undo = new Y.UndoManager(doc.getText('body'))
 *   const view = new EditorView({ extensions: [yCollab(doc.getText('body'), handle.awareness, { undoManager: undo })] })
 *   return () => { view.destroy(); undo.destroy() }
 * })
 * ```
 */
export const bindEachEpoch = (handle: WeftDoc, bind: (doc: Y.Doc) => (() => void) | void): (() => void) => {
  let cleanup = bind(handle.doc) ?? null
  const runCleanup = () => {
    const c = cleanup
    cleanup = null
    c?.()
  }
  const onEpoch = ({ doc }: { doc: Y.Doc }) => {
    try {
      runCleanup()
      cleanup = bind(doc) ?? null
    } catch (err) {
      const error = new WeftError(WeftErrorCode.ObserverFailed, 'bindEachEpoch: the app callback threw', {
        cause: err,
      })
      handle.emit('error', [{ error }])
    }
  }
  handle.on('epoch-changed', onEpoch)
  return () => {
    handle.off('epoch-changed', onEpoch)
    runCleanup()
  }
}
