/**
 * `@weft/sqlite-store`: the SQLite {@link @weft/core!DocStore} for Node peers, tools and the relay.
 * @module @weft/sqlite-store
 */
export { SqliteDocStore, type SqliteDocStoreOptions } from './SqliteDocStore.js'
export { sqliteFileBytes } from './sqliteFileBytes.js'
