import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import { CompactionWorker, type Ran } from '../../src/relay/CompactionWorker.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

// RELAY-3.10: a room whose compaction failed is not tried again before a pause that doubles per consecutive failure.

/** A worker whose every task fails (as when its thread cannot start), counting the tasks it was given. */
class FailingWorker extends CompactionWorker {
  started = 0
  override async run<T>(): Promise<Ran<T>> {
    this.started++
    await Promise.resolve()
    throw new Error('compaction worker exited at start')
  }
}

let srv: TestServer | null = null
const clients: WeftTestClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()))
  await srv?.close()
  srv = null
})

describe('relay compaction retry after a failure (RELAY-3.10)', () => {
  it('RELAY-3.10: a failing compaction worker is not retried at every update, only after a doubling pause', async () => {
    const worker = new FailingWorker()
    let clock = 1_000_000
    srv = await startTestServer({
      store: new SqliteDocStore({ path: ':memory:' }),
      relay: {
        compaction: { maxUpdates: 2, minTailRatio: 0, workerMinBytes: 0, worker, now: () => clock },
      },
    })
    const w = await WeftTestClient.open(`${srv.ws}/relay/failing`)
    clients.push(w)
    await w.next('sync-step2')
    const src = new Y.Doc()
    const text = src.getText('t')
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const before = Y.encodeStateVector(src)
        text.insert(0, `edit ${i} `)
        await w.ackAtLeast(w.sendUpdate(Y.encodeStateAsUpdate(src, before)))
      }
    }
    // The policy is due from the third write on: one attempt, then none while the clock stands still.
    await write(20)
    expect(worker.started).toBe(1)
    // The pause (1 s after the first failure) ended: one more attempt, which fails and doubles the pause.
    clock += 1_001
    await write(20)
    expect(worker.started).toBe(2)
    clock += 1_500
    await write(10)
    expect(worker.started).toBe(2)
    clock += 600
    await write(10)
    expect(worker.started).toBe(3)
  })
})
