/**
 * `@weft/providers/indexeddb`: the browser {@link @weft/core!DocStore} on IndexedDB.
 * @module @weft/providers/indexeddb
 */
export { IndexedDbDocStore, type IndexedDbDocStoreOptions } from './IndexedDbDocStore.js'
