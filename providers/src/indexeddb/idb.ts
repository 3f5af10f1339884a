import { WeftError, WeftErrorCode } from '@weft/core'
import { createWorkspaceIndex } from './workspaceRows.js'

/** Object store names of Weft's IndexedDB database (schema version 3). */
export const UPDATES = 'updates'
export const SNAPSHOTS = 'snapshots'
export const META = 'meta'
/**
 * Version 2: the last clock handed out per document (key `doc`, a number), written in every append transaction,
 * so that an append reads one row instead of scanning the document's key range (docs/guides/providers.md,
 * "Storage speed"). Documents written by version 1 have no row until their next append.
 */
export const CLOCKS = 'clocks'
/**
 * Version 3: the workspace index (`WS-STORE-*`): each workspace's change sequence (key `W`), and per indexed
 * document `W/D` the seq of its last change (key `[W, D]`, index `seq`). A version-2 database is indexed on upgrade.
 */
export const WORKSPACES = 'workspaces'
export const WORKSPACE_DOCS = 'workspaceDocs'
const VERSION = 3

/** Opens (creating or upgrading if needed) a Weft database. */
export const openWeftDatabase = (factory: IDBFactory | undefined, name: string): Promise<IDBDatabase> =>
  new Promise<IDBDatabase>((resolve, reject) => {
    if (!factory) {
      reject(new Error('IndexedDB is not available in this environment'))
      return
    }
    const req = factory.open(name, VERSION)
    req.onupgradeneeded = () => {
      const db = req.result
      // Out-of-line keys everywhere: updates [doc, clock], snapshots doc, meta [doc, key], clocks doc.
      for (const store of [UPDATES, SNAPSHOTS, META, CLOCKS])
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store)
      if (!db.objectStoreNames.contains(WORKSPACES) && req.transaction)
        createWorkspaceIndex(db, req.transaction)
    }
    req.onsuccess = () => {
      const db = req.result
      // Another tab upgrades the schema: let it; our later operations fail with store-failed, saying why (STORE-6.4).
      db.onversionchange = () => {
        db.close()
        const reason =
          `IndexedDB database ${name} was closed: another tab opened it at a newer version (a newer app version); ` +
          'changes made in this tab are no longer stored: reload it'
        db.transaction = () => {
          throw new WeftError(WeftErrorCode.StoreFailed, reason)
        }
      }
      resolve(db)
    }
    req.onerror = () => reject(req.error ?? new Error(`cannot open IndexedDB database ${name}`))
    req.onblocked = () =>
      reject(new Error(`opening IndexedDB database ${name} is blocked by another connection`))
  })

/** The result of one request. */
export const requestResult = <T>(req: IDBRequest<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'))
  })

/** Resolves on the transaction's `complete`, rejects on `error` or `abort`. */
export const transactionDone = (tx: IDBTransaction): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
