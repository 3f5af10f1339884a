/**
 * The document handle (docs/guides/documents.md): one owner per open document for its persistence, epochs, sync
 * session and pending-change count.
 */
export { DocHandle, type DocHandleEvents, type AddTransportOptions } from './DocHandle.js'
export { openDocument, type OpenDocumentOptions } from './openDocument.js'
export { PENDING_META, storedPendingCount } from './pendingMeta.js'
