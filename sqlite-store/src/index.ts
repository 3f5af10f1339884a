/**
 * `@weft/sqlite-store`: the SQLite {@link DocStore} for Node peers, tools and the relay.
 * @packageDocumentation
 */
export { SqliteDocStore, type SqliteDocStoreOptions } from './SqliteDocStore.js'
export { sqliteFileBytes } from './sqliteFileBytes.js'
