/**
 * `@weft/providers/indexeddb`: the browser {@link DocStore} on IndexedDB.
 * @packageDocumentation
 */
export { IndexedDbDocStore, type IndexedDbDocStoreOptions } from './IndexedDbDocStore.js'
