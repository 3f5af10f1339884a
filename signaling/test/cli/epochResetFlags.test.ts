import { afterEach, describe, expect, it } from 'vitest'
import { SqliteDocStore } from '@weft/sqlite-store'
import {
  epochResetPolicy,
  parseServeArgs,
  serveHelp,
  type ServeConfig,
} from '../../src/cli/parseServeArgs.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftPeer, once } from '../helpers/WeftPeer.js'

// RELAY-EPOCH-5: the thresholds of `weft serve --epoch-reset` are flags and environment variables (issue 12.10).

const config = (argv: string[], env: NodeJS.ProcessEnv = {}): ServeConfig => {
  const parsed = parseServeArgs(argv, env)
  if (!parsed.ok || parsed.help) throw new Error(parsed.ok ? 'help' : parsed.reason)
  return parsed.config
}

let srv: TestServer | null = null
const peers: WeftPeer[] = []
const stores: SqliteDocStore[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()))
  await srv?.close()
  srv = null
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

/** Writes a whiteboard-like history (3 keys overwritten) until the relay resets it or `rounds` ran out. */
const overwrite = async (policy: ReturnType<typeof epochResetPolicy>, rounds: number): Promise<string> => {
  const store = new SqliteDocStore({ path: ':memory:' })
  stores.push(store)
  srv = await startTestServer({
    store,
    relay: { compaction: { maxUpdates: 5, minTailRatio: 0 }, epochs: { autoStart: policy } },
  })
  const a = await new WeftPeer('wb').open()
  peers.push(a)
  await a.connect(srv.ws)
  const changed = a.nextEpoch().then(() => undefined)
  const shapes = a.doc.getMap<number>('shapes')
  for (let round = 0; round < rounds && a.session.epoch === '0'; round++) {
    a.doc.transact(() => {
      for (let i = 0; i < 10; i++) shapes.set(`s${i % 3}`, round * 10 + i)
    })
    await Promise.race([once(a.session, 'ack'), changed])
  }
  return a.session.epoch
}

describe('weft serve --epoch-reset thresholds (RELAY-EPOCH-5)', () => {
  it('RELAY-EPOCH-5: --epoch-reset-min-deleted, --epoch-reset-ratio, --epoch-reset-interval-ms and their environment variables set the policy', () => {
    const flags = config([
      '--epoch-reset',
      '--epoch-reset-min-deleted',
      '500',
      '--epoch-reset-ratio',
      '4',
      '--epoch-reset-interval-ms',
      '0',
    ])
    expect(epochResetPolicy(flags)).toEqual({ minDeletedItems: 500, deletedPerLive: 4, minIntervalMs: 0 })
    const env = config([], {
      WEFT_EPOCH_RESET: '1',
      WEFT_EPOCH_RESET_MIN_DELETED: '700',
      WEFT_EPOCH_RESET_RATIO: '3',
      WEFT_EPOCH_RESET_INTERVAL_MS: '1000',
    })
    expect(epochResetPolicy(env)).toEqual({ minDeletedItems: 700, deletedPerLive: 3, minIntervalMs: 1000 })
    // Flags win over the environment; what is not given keeps core's defaults.
    const mixed = config(['--epoch-reset', '--epoch-reset-ratio', '5'], { WEFT_EPOCH_RESET_RATIO: '3' })
    expect(epochResetPolicy(mixed)).toEqual({ deletedPerLive: 5 })
    expect(epochResetPolicy(config(['--epoch-reset']))).toEqual({})
    // A threshold without --epoch-reset, or a malformed one, is a usage error.
    expect(parseServeArgs(['--epoch-reset-ratio', '4'], {}).ok).toBe(false)
    expect(parseServeArgs(['--epoch-reset', '--epoch-reset-min-deleted', 'many'], {}).ok).toBe(false)
    expect(serveHelp()).toMatch(/--epoch-reset-min-deleted[\s\S]*WEFT_EPOCH_RESET_MIN_DELETED/)
    expect(serveHelp()).toMatch(/--epoch-reset-ratio[\s\S]*WEFT_EPOCH_RESET_RATIO/)
    expect(serveHelp()).toMatch(/--epoch-reset-interval-ms[\s\S]*WEFT_EPOCH_RESET_INTERVAL_MS/)
  })

  it('RELAY-EPOCH-5: the thresholds reach the relay: low ones reset a short history that the defaults leave alone', async () => {
    const low = epochResetPolicy(
      config(['--epoch-reset', '--epoch-reset-min-deleted', '200', '--epoch-reset-interval-ms', '0']),
    )
    expect(await overwrite(low, 100)).not.toBe('0')
    await Promise.all(peers.splice(0).map((p) => p.close()))
    await srv?.close()
    srv = null
    // Defaults: 100,000 deleted items and one check a minute; 40 rounds of 10 writes delete a few hundred.
    expect(await overwrite(epochResetPolicy(config(['--epoch-reset'])), 40)).toBe('0')
  })
})
