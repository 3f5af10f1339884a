import { pino } from 'pino'
import type { DocStore } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { createWeftServer, type WeftServer, type WeftServerOptions } from '../../src/index.js'

/** A server listening on a free loopback port, with an in-memory SQLite store unless one is given. */
export interface TestServer {
  readonly server: WeftServer
  readonly store: DocStore
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly http: string
  /** `ws://127.0.0.1:<port>` */
  readonly ws: string
  close(): Promise<void>
}

/** Starts a server for one test; `close()` stops it and closes the store. */
export const startTestServer = async (
  options: WeftServerOptions & { store?: DocStore; commitWindowMs?: number } = {},
): Promise<TestServer> => {
  const store = options.store ?? new SqliteDocStore({ path: ':memory:' })
  const { store: _s, commitWindowMs, ...rest } = options
  const server = createWeftServer({
    logger: pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' }),
    port: 0,
    ...rest,
    relay:
      rest.relay === false ? false : { store, commitWindowMs: commitWindowMs ?? 5, ...(rest.relay ?? {}) },
  })
  const { port } = await server.listen()
  return {
    server,
    store,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    close: async () => {
      await server.close()
      await store.close()
    },
  }
}
