import type { DocStore, EpochPolicy } from '@weft/core'
import type { ScaleOutOptions } from '../scaleout/ScaleOutRelay.js'
import type { PresenceLimits } from './AwarenessTable.js'
import type { CompactionWorker } from './CompactionWorker.js'
import type { RelayRulesOption } from './rules/RelayRules.js'
import type { SubscribeRate } from '../workspace/SubscribeQueue.js'
import type { RelayCompactionOptions } from './RelayCompaction.js'

/** Settings of the storing relay at `/relay/<room>`. */
export interface RelayOptions {
  /**
   * Where documents are kept. The relay does not close a store it was given. Without one, `dataDir` selects a
   * `SqliteDocStore` (from `@weft/sqlite-store`) that the relay owns and closes.
   */
  readonly store?: DocStore | undefined
  /** Directory of the embedded SQLite store, used when no `store` is given. */
  readonly dataDir?: string | undefined
  /** Group-commit window: accepted updates are durable at most this long after arriving (default 50 ms). */
  readonly commitWindowMs?: number | undefined
  /** A document with no connection is unloaded from memory after this long (default 30 s). */
  readonly idleUnloadMs?: number | undefined
  /**
   * Longest the relay waits for one call of a hook that only reports (`onStored`, `onDisconnect`; default 10 s,
   * HOOK-5.1): past it a warning `<hook> hook timed out` is logged, `weft_hook_timeouts_total{hook}` counted, and
   * the relay goes on without it (the room's next `onStored` call may start; `close()` stops waiting for it).
   */
  readonly hookTimeoutMs?: number | undefined
  /** Largest chunk the relay sends to a Weft client that negotiated chunking (default 256 KiB). */
  readonly chunkSize?: number | undefined
  /**
   * Scale-out mode (docs/guides/scale-out.md): several nodes serve the same rooms, sharing PostgreSQL (the store,
   * used instead of `dataDir`, unless `store` is given and offers `readSince`/`lastClocks`) and Redis (live
   * updates and presence between nodes).
   */
  readonly scaleOut?: ScaleOutOptions | undefined
  /**
   * Log compaction thresholds (core's `CompactionPolicy`; each field defaults to `defaultCompactionPolicy`), and
   * `workerMinBytes`: states at least this large (default 128 KiB) are rebuilt in the compaction worker thread
   * (RELAY-3.8).
   */
  readonly compaction?: RelayCompactionOptions | undefined
  /**
   * History compaction (docs/spec/relay-protocol.md, RELAY-EPOCH-*). The relay always follows epochs its clients
   * start; with `autoStart` it also starts them itself. Not in scale-out mode, where offers are ignored.
   */
  readonly epochs?: RelayEpochOptions | undefined
  /**
   * Server-authoritative writes (docs/guides/rules.md, RULES-4): rules (`defineRules` from `@weft/core/rules`) per
   * room pattern (`{ 'board-*': rules }`), or a function of the room name. Every update to a ruled room is checked
   * before it is stored or forwarded; a refused one is rolled back on a writer that can (the `rollback` feature),
   * and closes any other writer with `UpdateRejected` (4405).
   */
  readonly rules?: RelayRulesOption | undefined
  /**
   * Presence bounds and coalescing (docs/spec/relay-protocol.md, RELAY-6.5, RELAY-6.7); each field defaults to
   * `DEFAULT_PRESENCE_LIMITS`. A busy room's presence is sent once per window of connections × 1000 /
   * `writesPerSecond` ms, between `coalesceMs` (100) and `maxCoalesceMs` (250): lower `maxCoalesceMs` for smoother
   * cursors in large rooms at the price of more server writes, raise it (or lower `writesPerSecond`) for less CPU.
   */
  readonly presence?: Partial<PresenceLimits> | undefined
  /**
   * The pace of SUBSCRIBEs on the workspace endpoint (WS-RELAY-12): `burst` documents (default 200) join at once,
   * then `perSecond` (default 20), per socket, or shared by the sockets of one client address (loopback excepted).
   * Raise them for apps that preload many documents (`preload: 'all'` on 10,000 documents at 20/s takes 8 minutes);
   * each SUBSCRIBE may load a room from the store.
   */
  readonly workspaceSubscribes?: SubscribeRate | undefined
}

/** Settings of the relay's part in epochs (history compaction). */
export interface RelayEpochOptions {
  /**
   * Epoch authority (COMPACT-3.1): after a log compaction, when the document's deleted items pass the policy
   * (core's `EpochPolicy`, `shouldStartEpoch`; fields default to `defaultEpochPolicy`), the relay starts an epoch
   * itself. The policy is checked at most once per `minIntervalMs` per document (default 60 s). Off by default.
   */
  readonly autoStart?: (Partial<EpochPolicy> & { readonly minIntervalMs?: number }) | undefined
  /** Switches of states at least this large run in the compaction worker thread (default 128 KiB, RELAY-3.8). */
  readonly workerMinBytes?: number | undefined
  /** The worker (default: the process-wide `CompactionWorker.shared()`). */
  readonly worker?: CompactionWorker | undefined
}

/** Defaults of {@link RelayOptions}. */
export const RELAY_DEFAULTS = Object.freeze({
  commitWindowMs: 50,
  idleUnloadMs: 30_000,
  hookTimeoutMs: 10_000,
  chunkSize: 256 * 1024,
})
