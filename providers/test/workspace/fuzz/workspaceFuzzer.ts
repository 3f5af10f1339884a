/**
 * The seeded workspace fuzzer (WS-REL-1): 2-4 replicas of one workspace, each with its own store and an in-memory
 * workspace link to one relay (`MemoryWorkspaceRelay`), take random steps: create, delete, rename, edit, open,
 * close (which evicts under a small budget), partitions (a replica offline and back), restarts (the workspace
 * destroyed and opened again on the same store), relay restarts (the relay's rooms and connections made again over
 * its surviving store), compactions of a replica's or the relay's stored documents, and partial deliveries of the
 * network. At the end every replica is online and the network quiet; the fuzzer then
 * checks that every replica has the same catalogue, that every document opened on every replica holds every edit
 * ever made to it (an oracle of edit tokens), and that no store ever removed a document holding changes the relay
 * had not confirmed (eviction or purge of a pending change).
 *
 * It lives in providers (it drives `openWorkspace`); `npm run fuzz -- --mode workspace` imports it, as the
 * websocket mode imports signaling's test code, so core's sources never depend on providers.
 */
import * as Y from 'yjs'
import {
  storedPendingCount,
  docId as toDocId,
  workspaceDocKeys,
  type DocId,
  type RemoveOptions,
  type RemoveResult,
} from '@weft/core'
import {
  MemoryDocStore,
  MemoryNetwork,
  randomInt,
  randomPick,
  seededRandom,
  type Rand,
} from '@weft/core/testing'
import { openWorkspace, type WeftDoc, type Workspace } from '../../../src/index.js'
import { MemoryWorkspaceRelay, settle } from '../support/memoryWorkspaceRelay.js'

const W = 'fz'
const IDS = ['a', 'b', 'c', 'd', 'e', 'f']
/**
 * The retention of every replica and of the relay (WS-PURGE-1), on the fuzzer's clock (one tick per reading): never
 * reached by the ticks of a run, only by a purge step's jump of the clock.
 */
const RETENTION = 1_000_000

/** A replica's store that records every removal of a document holding unconfirmed local changes. */
class WatchedStore extends MemoryDocStore {
  readonly violations: string[] = []
  /** Whether `id` may go with its pending changes: its tombstone is past the retention (WS-PURGE-6). */
  purgeable: (id: DocId) => boolean = () => false

  override async remove(id: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    const stored = await this.load(id)
    // Summed over every writer's keys (STORE-9.7).
    const pending = storedPendingCount(stored?.meta ?? {})
    const result = await super.remove(id, options)
    if (result.ok && pending > 0 && !this.purgeable(id))
      this.violations.push(`${id} removed with ${pending} pending changes`)
    return result
  }

  /** Drops every document without the check (the broken storage of {@link WorkspaceFuzzOptions.brokenRestarts}). */
  async forget(): Promise<void> {
    for (const id of await this.list()) await super.remove(id)
  }
}

interface Replica {
  readonly name: string
  readonly store: WatchedStore
  ws: Workspace
  /** Documents this replica holds open (one `open` each). */
  readonly open: Set<string>
  /** The handles this replica opened, for the report of a seed that does not quiesce. */
  readonly handles: Map<string, WeftDoc>
  online: boolean
}

/** Options of {@link runWorkspaceSeed}. */
export interface WorkspaceFuzzOptions {
  /** Random steps (default 60). */
  readonly steps?: number
  /** Receives one line per step (debugging a failing seed). */
  readonly log?: (line: string) => void
  /**
   * A deliberately broken replica storage that forgets everything at each restart (pending changes included):
   * used to check that the fuzzer's oracle catches lost changes.
   */
  readonly brokenRestarts?: boolean
  /**
   * Restart the relay now and then (default true): after a step, with probability 0.05 drawn from a stream of its
   * own (so a seed's other steps are the ones it took before relay restarts existed), the relay drops its rooms and
   * connections and starts again on its store; every online replica reconnects and catches up.
   */
  readonly relayRestarts?: boolean
  /**
   * Purge steps (default false; `npm run fuzz -- --mode workspace --purges`): after a step, with probability 0.04 drawn from a stream of its own, the clock jumps
   * past the retention, the relay purges every document whose tombstone it holds (WS-PURGE-4, refusing it from then
   * on, WS-PURGE-5) and every replica purges (WS-CLIENT-2.2). At the end, every document past the retention must be
   * gone from every store (none resurrected), and the others must hold every edit.
   */
  readonly purges?: boolean
}

/** Zero of each count a seed reports (one seed's, or the sum over seeds). */
const noCounts = () => ({
  edits: 0,
  creates: 0,
  deletes: 0,
  partitions: 0,
  restarts: 0,
  relayRestarts: 0,
  compactions: 0,
  evictions: 0,
  purges: 0,
})

/** The outcome of one seed, with counts of what it exercised. */
export interface WorkspaceFuzzResult {
  readonly seed: number
  readonly ok: boolean
  readonly detail: string
  readonly replicas: number
  readonly edits: number
  readonly creates: number
  readonly deletes: number
  readonly partitions: number
  readonly restarts: number
  readonly relayRestarts: number
  readonly compactions: number
  readonly evictions: number
  /** Documents the relay purged. */
  readonly purges: number
}

/** Replaces a closed document's stored history by one snapshot (what a compaction job does). */
const compactStored = async (store: MemoryDocStore, id: DocId): Promise<boolean> => {
  const stored = await store.load(id)
  if (!stored || (stored.updates.length === 0 && !stored.snapshot)) return false
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored.updates) Y.applyUpdate(doc, u)
  const result = await store.compact(id, Y.encodeStateAsUpdateV2(doc), stored.clock)
  doc.destroy()
  return result.ok
}

const contentOf = (doc: Y.Doc): string[] => [...doc.getMap('m').keys()].sort()

/** Runs one seed; never throws (a fault is `ok: false` with a detail). */
export async function runWorkspaceSeed(
  seed: number,
  options: WorkspaceFuzzOptions = {},
): Promise<WorkspaceFuzzResult> {
  const rand: Rand = seededRandom(seed)
  const relayRand: Rand = seededRandom(seed * 7919 + 17)
  const purgeRand: Rand = seededRandom(seed * 104_729 + 31)
  const log = options.log
  const net = new MemoryNetwork()
  const relay = new MemoryWorkspaceRelay(net)
  let clock = 1_000
  const now = () => (clock += 1)
  const counts = noCounts()
  /** Purge steps so far, and for each document deleted, the number of purge steps before its first delete. */
  let jumps = 0
  const deletedBefore = new Map<string, number>()
  const purgeable = (key: DocId): boolean => {
    const doc = key.slice(W.length + 1).split('~')[0] ?? ''
    const before = deletedBefore.get(doc)
    return before !== undefined && jumps > before
  }
  /** Whether replica `r` holds `id` as deleted past the retention now. */
  const pastRetention = (r: Replica, id: string): boolean => {
    const e = r.ws.list.get(id)
    return e?.deleted === true && clock - e.deletedAt >= RETENTION
  }
  /** One purge: the relay sweeps, then every replica. */
  const sweep = async (): Promise<void> => {
    counts.purges += (await relay.purge(W, RETENTION, clock)).length
    for (const r of replicas) await r.ws.purge()
  }
  /** doc id -> every edit token ever made to it (on any replica). */
  const oracle = new Map<string, Set<string>>()
  const replicas: Replica[] = []
  const n = 2 + randomInt(rand, 2)
  // Each replica's policy, chosen once so that a restart keeps it.
  const policies = Array.from({ length: n }, () => randomPick(rand, ['all', 'none', 'recent'] as const))
  const budgets = Array.from({ length: n }, () => (rand() < 0.5 ? 400 + randomInt(rand, 600) : undefined))

  const startReplica = async (i: number, store: WatchedStore): Promise<Workspace> => {
    const policy = policies[i]
    const ws = await openWorkspace({
      id: W,
      store,
      relay: relay.link(W, `r${i}`),
      ...(policy === 'all'
        ? { preload: 'all' as const }
        : policy === 'recent'
          ? { preload: { recent: 2 } }
          : {}),
      ...(budgets[i] !== undefined ? { budget: budgets[i] } : {}),
      retention: RETENTION,
      now,
    })
    ws.on('error', ({ error }) => log?.(`r${i} error ${error.code}: ${error.message}`))
    return ws
  }

  let detail = ''
  try {
    // The memory relay attaches a room's document asynchronously when the room is first linked, and a message that
    // reaches the room before that is lost (an artifact of the stand-in, not of a relay): open every room first.
    for (const id of ['.catalogue', ...IDS]) await relay.doc(`${W}/${id}`)
    for (let i = 0; i < n; i++) {
      const store = new WatchedStore()
      store.purgeable = purgeable
      replicas.push({
        name: `r${i}`,
        store,
        ws: await startReplica(i, store),
        open: new Set(),
        handles: new Map(),
        online: true,
      })
    }
    await settle(net)
    const steps = options.steps ?? 60
    for (let step = 0; step < steps; step++) {
      const r = randomPick(rand, replicas)
      const i = replicas.indexOf(r)
      const id = randomPick(rand, IDS)
      const roll = rand()
      if (roll < 0.15) {
        const res = r.ws.create({ id, title: `t${step}` })
        if (res.ok) counts.creates++
        log?.(`${step}: ${r.name} create ${id} ${res.ok ? 'ok' : 'exists'}`)
      } else if (roll < 0.22) {
        if (r.ws.list.get(id) && !r.ws.list.get(id)!.deleted) {
          r.ws.delete(id)
          if (!deletedBefore.has(id)) deletedBefore.set(id, jumps)
          counts.deletes++
          log?.(`${step}: ${r.name} delete ${id}`)
        }
      } else if (roll < 0.27) {
        if (r.ws.list.get(id)) r.ws.update(id, { title: `r${step}` })
        log?.(`${step}: ${r.name} rename ${id}`)
      } else if (roll < 0.52) {
        // Edit: open if needed, add a token, sometimes close right after.
        const doc = await r.ws.open(id)
        r.handles.set(id, doc)
        if (r.open.has(id)) await r.ws.close(id)
        else r.open.add(id)
        const token = `${r.name}.${step}`
        doc.doc.getMap('m').set(token, 'x'.repeat(randomInt(rand, 200)))
        if (!oracle.has(id)) oracle.set(id, new Set())
        oracle.get(id)!.add(token)
        counts.edits++
        log?.(`${step}: ${r.name} edit ${id} ${token}`)
        if (rand() < 0.5) {
          r.open.delete(id)
          await r.ws.close(id)
          log?.(`${step}: ${r.name} close ${id}`)
        }
      } else if (roll < 0.6) {
        if (!r.open.has(id)) {
          r.handles.set(id, await r.ws.open(id))
          r.open.add(id)
          log?.(`${step}: ${r.name} open ${id}`)
        }
      } else if (roll < 0.7) {
        if (r.open.has(id)) {
          r.open.delete(id)
          const before = (await r.store.list()).length
          await r.ws.close(id)
          await r.ws.flushed()
          if ((await r.store.list()).length < before) counts.evictions++
          log?.(`${step}: ${r.name} close ${id}`)
        }
      } else if (roll < 0.78) {
        r.online = !r.online
        if (r.online) r.ws.connect()
        else r.ws.disconnect()
        counts.partitions++
        log?.(`${step}: ${r.name} ${r.online ? 'online' : 'offline'}`)
      } else if (roll < 0.84) {
        await r.ws.destroy()
        r.open.clear()
        if (options.brokenRestarts) await r.store.forget()
        r.ws = await startReplica(i, r.store)
        if (!r.online) r.ws.disconnect()
        counts.restarts++
        log?.(`${step}: ${r.name} restart`)
      } else if (roll < 0.9) {
        const onRelay = rand() < 0.5
        const key = toDocId(`${W}/${id}`)
        const loaded = r.ws.loaded.includes(id)
        if (onRelay ? await compactStored(relay.store, key) : !loaded && (await compactStored(r.store, key)))
          counts.compactions++
        log?.(`${step}: compact ${id} on ${onRelay ? 'relay' : r.name}`)
      } else {
        // A partial delivery: some messages arrive before the next step.
        for (let k = randomInt(rand, 20); k > 0 && net.deliver(); k--);
        await new Promise((resolve) => setImmediate(resolve))
      }
      if (rand() < 0.3) await settle(net)
      if (options.relayRestarts !== false && relayRand() < 0.05) {
        await relay.restart()
        counts.relayRestarts++
        log?.(`${step}: relay restart`)
      }
      if (options.purges === true && purgeRand() < 0.04) {
        clock += RETENTION + 1000
        jumps++
        await sweep()
        log?.(`${step}: past the retention, purged [${[...relay.gone].join(' ')}]`)
      }
    }

    // Heal: everyone online, nothing in flight, then every document opened everywhere and compared.
    for (const r of replicas) {
      if (!r.online) r.ws.connect()
      r.online = true
    }
    // A document past the retention is closed (its changes are refused for good, WS-PURGE-5), then purged everywhere.
    await settle(net)
    if (options.purges === true) {
      // WS-PURGE-11: each replica counts a tombstone's retention from when it first saw it (one that was offline at a
      // jump, from when it came back): one more retention passes for all of them.
      clock += RETENTION + 1000
      jumps++
    }
    for (const r of replicas) {
      for (const id of [...r.open]) {
        if (!pastRetention(r, id)) continue
        r.open.delete(id)
        await r.ws.close(id)
      }
    }
    await settle(net)
    await sweep()
    await quiesce(net, replicas)
    await sweep()
    const catalogue = (r: Replica) =>
      JSON.stringify(
        [...r.ws.list.entries, ...r.ws.list.deleted]
          .map((e) => ({
            id: e.id,
            title: e.title,
            deleted: e.deleted,
            updatedAt: e.updatedAt,
            size: e.size,
          }))
          .sort((a, b) => (a.id < b.id ? -1 : 1)),
      )
    const first = catalogue(replicas[0]!)
    for (const r of replicas)
      if (catalogue(r) !== first)
        throw new Error(`catalogues diverged: ${r.name} ${catalogue(r)} vs r0 ${first}`)
    // WS-PURGE-3, 7: a document past the retention is in no store, on no replica and not on the relay.
    const gone = new Set(IDS.filter((id) => pastRetention(replicas[0]!, id)))
    for (const id of gone) {
      if (workspaceDocKeys(await relay.store.list(), W, id).length > 0)
        throw new Error(`the relay still holds ${id}, past the retention`)
      for (const r of replicas)
        if (workspaceDocKeys(await r.store.list(), W, id).length > 0)
          throw new Error(`${r.name} still holds ${id}, past the retention`)
    }
    for (const r of replicas) {
      for (const id of IDS) {
        if (gone.has(id)) continue
        const expected = [...(oracle.get(id) ?? [])].sort()
        if (expected.length === 0 && !r.ws.list.get(id)) continue
        const doc = await r.ws.open(id)
        await quiesce(net, replicas)
        const got = contentOf(doc.doc)
        await r.ws.close(id)
        if (JSON.stringify(got) !== JSON.stringify(expected))
          throw new Error(
            `${r.name} document ${id} holds ${got.length} of ${expected.length} edits: ${got} vs ${expected}`,
          )
      }
    }
    for (const id of IDS) {
      const expected = [...(oracle.get(id) ?? [])].sort()
      if (expected.length === 0 || gone.has(id)) continue
      const got = contentOf(await relay.doc(`${W}/${id}`))
      if (JSON.stringify(got) !== JSON.stringify(expected))
        throw new Error(`the relay's document ${id} holds ${got.length} of ${expected.length} edits`)
    }
    for (const r of replicas)
      for (const v of r.store.violations) throw new Error(`${r.name}: a pending change was evicted: ${v}`)
  } catch (err) {
    detail = err instanceof Error ? err.message : String(err)
  } finally {
    for (const r of replicas) await r.ws.destroy().catch(() => undefined)
    await relay.destroy().catch(() => undefined)
  }
  return { seed, ok: detail === '', detail, replicas: n, ...counts }
}

/** Settles the network until every replica's pending count is 0 and its background work is done. */
const quiesce = async (net: MemoryNetwork, replicas: readonly Replica[]): Promise<void> => {
  for (let round = 0; round < 50; round++) {
    await settle(net)
    for (const r of replicas) await r.ws.flushed()
    await settle(net)
    if (replicas.every((r) => r.ws.pendingChanges === 0 && r.ws.status === 'synced')) return
  }
  const states = replicas
    .map(
      (r) =>
        `${r.name} ${r.ws.status} pending ${r.ws.pendingChanges} loaded [${r.ws.loaded.map((id) => `${id}:${r.handles.get(id)?.status}`).join(' ')}] catalogue ${r.ws.catalogue.status} ${JSON.stringify(r.ws.progress)}`,
    )
    .join(', ')
  throw new Error(`did not quiesce: ${states}`)
}

/**
 * Runs seeds `from .. from + count - 1` with `steps` steps each (and purge steps with `options.purges`), printing every failing seed and a summary line
 * through `print` (`npm run fuzz -- --mode workspace`). Resolves with the number of failing seeds.
 */
export async function runWorkspaceSeeds(
  from: number,
  count: number,
  steps: number,
  print: (line: string) => void,
  options: Pick<WorkspaceFuzzOptions, 'purges'> = {},
): Promise<number> {
  const t0 = Date.now()
  const total = noCounts()
  let failed = 0
  for (let s = from; s < from + count; s++) {
    const r = await runWorkspaceSeed(s, { steps, ...options })
    for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += r[k]
    if (!r.ok) {
      failed++
      print(`FAIL seed ${s} (${r.replicas} replicas): ${r.detail}`)
    }
    if ((s - from + 1) % 100 === 0) print(`... ${s - from + 1} seeds, ${failed} failed`)
  }
  const counts = Object.entries(total)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ')
  print(
    `workspace fuzz${options.purges ? ' with purges' : ''}: ${count} seeds (${from}..${from + count - 1}), ${steps} steps each, ${counts}, ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s: ${count - failed} passed, ${failed} failed`,
  )
  return failed
}
