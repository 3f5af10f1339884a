/**
 * `@weft/providers/node`: stores for Node peers and tools.
 * @packageDocumentation
 */
export { SqliteDocStore, type SqliteDocStoreOptions } from '@weft/sqlite-store'
