/**
 * `@weft/providers/node`: stores for Node peers and tools.
 * @module @weft/providers/node
 */
export { SqliteDocStore, type SqliteDocStoreOptions } from '@weft/sqlite-store'
