/**
 * Building blocks for {@link @weft/core!DocStore} implementations (`@weft/core/store-kit`): the group-commit queue every Weft
 * store uses. Apps that only use a store never need this subpath.
 * @module @weft/core/store-kit
 */
export { AppendQueue, settleAppends, rejectAppends, type PendingAppend } from './AppendQueue.js'
export { epochMismatchError } from './DocStore.js'
export {
  workspaceChangesOf,
  indexedWorkspaceDoc,
  changesPage,
  pageSize,
  compactionIsChange,
} from './WorkspaceIndex.js'
export { metaBytes, type MetaBytes, type MetaBytesCodec, type LoadedMetaResult } from './metaBytes.js'
