import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Logger } from 'pino'
import {
  isWorkspaceId,
  isWorkspaceIndexed,
  splitWorkspaceDoc,
  workspaceOf,
  type DocStore,
  type WorkspaceChange,
  type WorkspaceIndex,
} from '@weft/core'
import { addressKey, isLoopback } from '../admission/ClientAddresses.js'
import type { Access } from '../auth/RoomGrant.js'
import { TokenBucket } from '../connection/TokenBucket.js'
import type { ConnectionContext } from '../hooks.js'
import type { RelayConnection } from '../relay/RelayConnection.js'
import type { RelaySocket } from '../relay/RelaySocket.js'
import type { TopicBus } from '../scaleout/RedisRoomBus.js'
import { WeftServerError } from '../WeftServerError.js'
import { WorkspaceBus } from './WorkspaceBus.js'
import { attachWhen } from './attachWhen.js'
import { refusalOf, WorkspacePurger } from './WorkspacePurger.js'
import { SUBSCRIBE_BURST, SUBSCRIBES_PER_SECOND, type SubscribeRate } from './SubscribeQueue.js'
import {
  WorkspaceSession,
  type WorkspaceClient,
  type WorkspaceSessionHost,
  type WorkspaceSocket,
} from './WorkspaceSession.js'

/** Default path of the multiplexed workspace endpoint (`WeftServiceOptions.workspacePath`). */
export const DEFAULT_WORKSPACE_PATH = '/workspace'

/** Largest CHANGES page the relay sends, whatever the client asks for (WS-RELAY-7). */
export const MAX_CHANGES_PAGE = 1000

/**
 * Smallest CHANGES page the relay answers with, whatever the client asks for (WS-RELAY-11): a catch-up of `n`
 * changes costs at most `n / MIN_CHANGES_PAGE` store reads and frames, not `n`.
 */
export const MIN_CHANGES_PAGE = 100

/**
 * The prefix (with its trailing `/`) under which workspaces are served, from the `workspacePath` option: `null`
 * when it is `false` (no workspace endpoint). Throws `invalid-argument` for a path that does not start with `/`.
 */
export const workspacePrefixOf = (workspacePath: string | false | undefined): string | null => {
  if (workspacePath === false) return null
  const path = workspacePath ?? DEFAULT_WORKSPACE_PATH
  if (!path.startsWith('/'))
    throw new WeftServerError('invalid-argument', 'workspacePath must start with "/"')
  return `${path.replace(/\/+$/, '')}/`
}

/**
 * The workspace a request path names under `prefix` (`/workspace/<W>`, percent-decoded): `undefined` when the path
 * is not under `prefix`, `null` when it is but names no valid workspace (answered 404, as an invalid room is).
 */
export const workspaceRoute = (path: string, prefix: string): string | null | undefined => {
  if (!path.startsWith(prefix)) return undefined
  let workspace: string
  try {
    workspace = decodeURIComponent(path.slice(prefix.length))
  } catch {
    return null
  }
  return isWorkspaceId(workspace) ? workspace : null
}

/** Addresses whose sockets all left and whose SUBSCRIBE bucket is full again are forgotten this often. */
const ADDRESS_SWEEP_MS = 10_000

/** Options of {@link WorkspaceEndpoint}. */
export interface WorkspaceEndpointOptions {
  /** The relay's store: its `WorkspaceIndex` (if any) answers catch-ups and numbers the changes pushed. */
  readonly store: DocStore
  /** Joins a document's member to its room: `RelayHub.accept`. */
  readonly join: (
    socket: RelaySocket,
    room: string,
    access: Exclude<Access, 'none'>,
    context: ConnectionContext,
  ) => RelayConnection | null
  /** Gives a member a revalidated grant (RELAY-4.8): `RelayHub.regrant`. */
  readonly regrant: (member: RelayConnection, context: ConnectionContext) => void
  /** `ServerLimits.maxWorkspaceSubscriptions`. */
  readonly maxSubscriptions: number
  /** `ServerLimits.maxBufferedBytes`. */
  readonly maxBufferedBytes: number
  /**
   * Scale-out: the relay's bus topics (`RelayHub.topics`, null on a single node), through which CHANGED reaches the
   * sockets of other nodes (WS-RELAY-6). Read when a workspace's first socket opens.
   */
  readonly topics?: (() => TopicBus | null) | undefined
  /**
   * The purge of deleted documents (WS-PURGE-*): how long a tombstone's data is kept (ms) and whether a room is
   * loaded on this node (its data waits for a later sweep). None when absent.
   */
  readonly purge?: { readonly retention: number; readonly isLoaded: (room: string) => boolean } | undefined
  /** The pace of SUBSCRIBEs (WS-RELAY-12, `RelayOptions.workspaceSubscribes`); defaults when absent. */
  readonly subscribeRate?: SubscribeRate | undefined
  readonly logger: Logger
}

/** The sockets of one workspace on this node, and how far its change sequence was pushed to them. */
interface WorkspaceState {
  readonly id: string
  readonly sessions: Set<WorkspaceSession>
  /** The sequence pushed through (every change up to it was pushed or predates the sockets); null until read. */
  seq: number | null
  /** Settles once `seq` was read (or could not be): a catch-up answers after it (WS-RELAY-7). */
  ready: Promise<void>
  /** The last read of `seq` failed: the next commit reads it again. */
  failed: boolean
  running: boolean
  again: boolean
}

/**
 * The relay's multiplexed workspace endpoint `<workspacePath>/<W>` (docs/spec/workspaces.md, WS-RELAY-*): one
 * {@link WorkspaceSession} per socket, whose subscribed documents are ordinary members of their rooms; pushes
 * CHANGED after each durable commit of a workspace's document and answers CATCH_UP from the store's
 * `WorkspaceIndex`. A workspace with no socket on this node costs nothing here.
 */
export class WorkspaceEndpoint implements WorkspaceSessionHost {
  readonly #opts: WorkspaceEndpointOptions
  readonly #index: (DocStore & WorkspaceIndex) | null
  readonly #workspaces = new Map<string, WorkspaceState>()
  /** Notices between nodes (scale-out with an indexed store), or null. */
  readonly #bus: WorkspaceBus | null = null
  /** The purge of deleted documents (WS-PURGE-*), or null. */
  readonly #purger: WorkspacePurger | null
  /**
   * WS-RELAY-12: the SUBSCRIBE bucket of each address (by `addressKey`) with workspace sockets, or whose bucket is
   * not full again since its last one left (a socket closed and opened again gets no new burst).
   */
  readonly #addressBuckets = new Map<string, { readonly bucket: TokenBucket; sockets: number }>()
  #sweep: NodeJS.Timeout | null = null

  constructor(opts: WorkspaceEndpointOptions) {
    const purger = opts.purge
      ? new WorkspacePurger({ ...opts.purge, store: opts.store, logger: opts.logger })
      : null
    this.#purger = purger
    // WS-PURGE-5: a SUBSCRIBE to a document past its retention is refused (Forbidden) before it joins its room;
    // WS-PURGE-9: so is one of a workspace whose catalogue could not be read (retryable). A socket's messages are
    // delivered only once its workspace's catalogue was read (or failed to be), see accept().
    const join: WorkspaceEndpointOptions['join'] = (socket, room, access, context) => {
      const refusal = purger ? refusalOf(purger.verdictOf(room)) : null
      if (!refusal) return opts.join(socket, room, access, context)
      socket.close(refusal.code, refusal.reason)
      return null
    }
    this.#opts = purger ? { ...opts, join } : opts
    purger?.start()
    this.#index = isWorkspaceIndexed(opts.store) ? opts.store : null
    if (opts.topics && this.#index) {
      this.#bus = new WorkspaceBus({
        topics: opts.topics,
        changed: (workspace) => {
          const state = this.#workspaces.get(workspace)
          if (state) this.#push(state)
        },
      })
    }
  }

  /** Stops the sweeps and the purge (the relay closes; the scale-out bus is the relay hub's). */
  async close(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep)
    this.#sweep = null
    await this.#purger?.close()
  }

  get subscribeRate(): SubscribeRate | undefined {
    return this.#opts.subscribeRate
  }

  get maxSubscriptions(): number {
    return this.#opts.maxSubscriptions
  }

  get maxBufferedBytes(): number {
    return this.#opts.maxBufferedBytes
  }

  /** The purge of deleted documents (WS-PURGE-*), or null when the relay keeps them. */
  get purger(): WorkspacePurger | null {
    return this.#purger
  }

  /** Workspaces with at least one socket on this node. */
  get workspaceCount(): number {
    return this.#workspaces.size
  }

  /**
   * Serves one accepted workspace socket. `whenDrained(fn)` calls `fn` once the socket's send buffer drained (the
   * fair sender waits on it).
   */
  accept(
    socket: WorkspaceSocket,
    workspace: string,
    client: WorkspaceClient,
    whenDrained: (fn: () => void) => void,
  ): WorkspaceSession {
    const session = new WorkspaceSession(socket, workspace, client, this, whenDrained)
    let state = this.#workspaces.get(workspace)
    if (!state) {
      const fresh: WorkspaceState = {
        id: workspace,
        sessions: new Set(),
        seq: null,
        ready: Promise.resolve(),
        failed: false,
        running: false,
        again: false,
      }
      // Subscribed first: a commit of another node after the sequence is read is noticed.
      fresh.ready = this.#bus
        ? this.#bus.watch(workspace).then(() => this.#readSeq(fresh))
        : this.#readSeq(fresh)
      this.#workspaces.set(workspace, fresh)
      state = fresh
    }
    state.sessions.add(session)
    // WS-PURGE-9: no SUBSCRIBE is decided before the purge read the workspace's catalogue (or failed to, or its time
    // ran out): the socket's messages are kept until then.
    const purger = this.#purger
    if (purger && !purger.knows(workspace)) {
      attachWhen(socket, purger.whenRead(workspace), session)
    } else {
      socket.attach(session)
    }
    return session
  }

  join(
    socket: RelaySocket,
    room: string,
    access: Exclude<Access, 'none'>,
    context: ConnectionContext,
  ): RelayConnection | null {
    return this.#opts.join(socket, room, access, context)
  }

  regrant(member: RelayConnection, context: ConnectionContext): void {
    this.#opts.regrant(member, context)
  }

  subscribeBucket(clientAddress: string): TokenBucket | undefined {
    // Loopback (local tools, tests, a proxy not named trusted) is not limited per address, as for upgrades (CONN-10).
    if (clientAddress === '' || isLoopback(clientAddress)) return undefined
    const key = addressKey(clientAddress)
    let entry = this.#addressBuckets.get(key)
    if (!entry) {
      const rate = this.#opts.subscribeRate
      entry = {
        bucket: new TokenBucket(rate?.perSecond ?? SUBSCRIBES_PER_SECOND, rate?.burst ?? SUBSCRIBE_BURST),
        sockets: 0,
      }
      this.#addressBuckets.set(key, entry)
    }
    entry.sockets++
    if (!this.#sweep) {
      this.#sweep = setInterval(() => {
        for (const [k, e] of this.#addressBuckets)
          if (e.sockets === 0 && e.bucket.full) this.#addressBuckets.delete(k)
      }, ADDRESS_SWEEP_MS)
      this.#sweep.unref()
    }
    return entry.bucket
  }

  left(session: WorkspaceSession): void {
    const address = session.client.clientAddress
    const entry =
      address === '' || isLoopback(address) ? undefined : this.#addressBuckets.get(addressKey(address))
    if (entry && entry.sockets > 0) entry.sockets--
    const state = this.#workspaces.get(session.workspace)
    if (!state) return
    state.sessions.delete(session)
    if (state.sessions.size > 0) return
    this.#workspaces.delete(session.workspace)
    this.#bus?.unwatch(session.workspace)
  }

  /**
   * A room's commit is durable (the relay calls this at once, apart from the app's `onStored`, HOOK-5.4): push the
   * workspace's new changes to its sockets.
   */
  stored(room: string): void {
    const workspace = workspaceOf(room)
    if (workspace === null) return
    this.#bus?.notify(workspace)
    const state = this.#workspaces.get(workspace)
    if (state) this.#push(state)
  }

  /**
   * WS-RELAY-7: answers CATCH_UP with CHANGES pages (only documents the client may read; `through` advances past the
   * others), one page written before the next is read. Without a `WorkspaceIndex`: one page with every document of
   * the workspace the store lists and the client may read, each with seq 0, and `through` 0. WS-RELAY-11: pages of
   * `MIN_CHANGES_PAGE` to `MAX_CHANGES_PAGE` documents, each read in its own turn of the event loop (a store that
   * answers synchronously, such as SQLite, never holds the other sockets and HTTP requests for a whole answer).
   */
  async catchUp(session: WorkspaceSession, cursor: number, pageSize: number): Promise<void> {
    const limit = Math.min(Math.max(pageSize, MIN_CHANGES_PAGE), MAX_CHANGES_PAGE)
    // Once the answer's last page is out, every later change is pushed to this socket.
    await this.#workspaces.get(session.workspace)?.ready
    await nextTurn()
    const index = this.#index
    if (!index) {
      const docs: WorkspaceChange[] = []
      for (const id of await this.#opts.store.list()) {
        const split = splitWorkspaceDoc(id)
        if (split?.workspace === session.workspace && session.access(split.doc) !== 'none') {
          docs.push({ doc: split.doc, seq: 0 })
        }
      }
      return session.changes(docs, 0, false)
    }
    let from = cursor
    for (;;) {
      if (!session.open) return
      const page = await index.changesSince(session.workspace, from, limit)
      const readable = page.changes.filter((c) => session.access(c.doc) !== 'none')
      await session.changes(readable, page.through, page.more)
      if (!page.more || page.through <= from) return
      from = page.through
      // WS-RELAY-11: the next page in a later turn: other sockets' frames, timers and HTTP requests go first.
      await nextTurn()
    }
  }

  /** Reads the workspace's sequence when its first socket opens: changes after it are pushed. */
  #readSeq(state: WorkspaceState): Promise<void> {
    const index = this.#index
    if (!index) return Promise.resolve()
    return index.workspaceSeq(state.id).then(
      (seq) => {
        state.seq = seq
        if (state.again) this.#push(state)
      },
      (err: unknown) => {
        this.#opts.logger.error({ err, workspace: state.id }, 'could not read the workspace sequence')
        // Without a starting point nothing is pushed (catch-ups still answer) until a commit reads it again.
        state.failed = true
      },
    )
  }

  /** Pushes every change after `state.seq` as CHANGED to the sockets that may read it; one run at a time. */
  #push(state: WorkspaceState): void {
    const index = this.#index
    if (!index) return
    if (state.seq === null || state.running) {
      state.again = true
      if (state.seq === null && state.failed) {
        state.failed = false
        state.ready = this.#readSeq(state)
      }
      return
    }
    state.running = true
    state.again = false
    void (async () => {
      try {
        for (;;) {
          const from = state.seq as number
          const page = await index.changesSince(state.id, from, MAX_CHANGES_PAGE)
          for (const change of page.changes) {
            for (const session of state.sessions) {
              if (session.access(change.doc) !== 'none') session.changed(change.doc, change.seq)
            }
          }
          state.seq = Math.max(from, page.through)
          if (!page.more || page.through <= from) break
        }
      } catch (err) {
        this.#opts.logger.error({ err, workspace: state.id }, 'could not read the workspace changes')
      } finally {
        state.running = false
      }
      if (state.again && this.#workspaces.get(state.id) === state) this.#push(state)
    })()
  }
}
