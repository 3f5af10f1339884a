import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { DocStore } from '@weft/core'
import { WeftServerError } from '../WeftServerError.js'
import type { RelayOptions } from './RelayOptions.js'

/** File name of the embedded store inside the data directory. */
export const RELAY_DB_FILE = 'weft.sqlite'

/**
 * The relay's store: the one given in `options.store` (not owned), a `PostgresDocStore` in scale-out mode, or a
 * `SqliteDocStore` in `<dataDir>/weft.sqlite` (both owned: the relay closes them). Each is loaded only when needed.
 */
export const openRelayStore = async (options: RelayOptions): Promise<{ store: DocStore; owned: boolean }> => {
  if (options.store) return { store: options.store, owned: false }
  if (options.scaleOut) {
    const { PostgresDocStore } = await import('../scaleout/PostgresDocStore.js')
    const store = new PostgresDocStore({
      connectionString: options.scaleOut.postgresUrl,
      schema: options.scaleOut.postgresSchema,
    })
    return { store: await opened(store), owned: true }
  }
  if (!options.dataDir) throw new WeftServerError('invalid-argument', 'the relay needs a store or a dataDir')
  await mkdir(options.dataDir, { recursive: true })
  const { SqliteDocStore } = await import('@weft/sqlite-store')
  return {
    store: await opened(new SqliteDocStore({ path: join(options.dataDir, RELAY_DB_FILE), exclusive: true })),
    owned: true,
  }
}

/**
 * CLI-1.2: an owned store is checked at start-up, not at the first client: PostgreSQL unreachable or its schema
 * newer, a SQLite file damaged or foreign. On failure it is closed and the error thrown (`weft serve` exits 1).
 */
const opened = async <S extends DocStore & { ready(): Promise<void> }>(store: S): Promise<S> => {
  await store.ready().catch(async (err: unknown) => {
    await store.close().catch(() => undefined)
    throw err
  })
  return store
}
