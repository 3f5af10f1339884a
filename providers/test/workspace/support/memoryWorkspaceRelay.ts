import { ObservableV2 } from 'lib0/observable'
import type * as Y from 'yjs'
import {
  CloseCode,
  isPastRetention,
  loadCatalogueTombstones,
  openDocument,
  purgeWorkspaceDoc,
  workspaceDocId,
  type AppendOptions,
  type CompactOptions,
  type CompactResult,
  type DocHandle,
  type DocId,
  type Transport,
  type TransportStatus,
} from '@weft/core'
import { MemoryDocStore, type MemoryNetwork, type MemoryTransport } from '@weft/core/testing'
import type { ConnectionError, WorkspaceLink, WorkspaceLinkEvents } from '../../../src/index.js'

/** A MemoryDocStore that reports every durable write (the relay's change sequence advances on them). */
class NotifyingStore extends MemoryDocStore {
  onWrite: (docId: DocId) => void = () => {}

  override async append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    const clock = await super.append(docId, update, options)
    this.onWrite(docId)
    return clock
  }

  override async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    const result = await super.compact(docId, snapshot, throughClock, options)
    if (result.ok) this.onWrite(docId)
    return result
  }
}

/**
 * A relay stand-in on a MemoryNetwork: one durable document (an `openDocument` handle over a store that keeps the
 * workspace change sequence) per room `W/D`, with one endpoint per room. Per-document clients link to the room's
 * endpoint ({@link relayFor}); {@link link} gives a {@link WorkspaceLink} that pushes `changed` like the multiplexed
 * endpoint does.
 */
export class MemoryWorkspaceRelay {
  readonly net: MemoryNetwork
  readonly store = new NotifyingStore()
  readonly #rooms = new Map<string, { end: MemoryTransport; handle: Promise<DocHandle> }>()
  readonly #links = new Set<MemoryWorkspaceLink>()
  readonly #pushed = new Map<string, number>()
  #pushing: Promise<void> = Promise.resolve()
  #n = 0
  /** Bumped by {@link restart}: the room endpoints of each run of the relay have their own names (peer ids). */
  #run = 0
  /** Rooms `W/D` purged (past their retention): refused to every link from then on (WS-PURGE-5). */
  readonly gone = new Set<string>()

  constructor(net: MemoryNetwork) {
    this.net = net
    this.store.onWrite = (id) => this.#push(id)
  }

  /** The relay's endpoint of room `room` (created, with its durable document, on first use). */
  endpoint(room: string): MemoryTransport {
    let entry = this.#rooms.get(room)
    if (!entry) {
      const end = this.net.transport(this.#run === 0 ? `relay:${room}` : `relay:${room}#${this.#run}`)
      end.connect()
      const handle = openDocument({ docId: room, store: this.store }).then((h) => {
        h.addTransport(end)
        return h
      })
      entry = { end, handle }
      this.#rooms.set(room, entry)
    }
    return entry.end
  }

  /** The relay's document of room `room`. */
  async doc(room: string): Promise<Y.Doc> {
    this.endpoint(room)
    return (await this.#rooms.get(room)!.handle).doc
  }

  /** A per-document relay factory for `openWorkspace({ relay })`: each call is a new client connection. */
  relayFor(client: string): (room: string) => Transport {
    return (room) => {
      const t = this.net.transport(`${client}:${room}:${++this.#n}`)
      this.net.link(t, this.endpoint(room))
      return t
    }
  }

  /** A multiplexed link of workspace `workspace` for client `client`. */
  link(workspace: string, client: string): MemoryWorkspaceLink {
    const link = new MemoryWorkspaceLink(this, workspace, `${client}:${++this.#n}`)
    this.#links.add(link)
    return link
  }

  /** @internal */
  _transport(name: string): MemoryTransport {
    return this.net.transport(`${name}:${++this.#n}`)
  }

  /** Resolves once every change so far was pushed to the connected links. */
  pushed(): Promise<void> {
    return this.#pushing
  }

  /**
   * Restarts the relay (WS-REL-2): its in-memory state (loaded rooms, their endpoints, the pushed change numbers) is
   * dropped and made again, while its store survives. Every connected link loses its connection (in-flight messages
   * are lost, its documents see their relay peer leave) and connects again to the new rooms, catching up from its
   * cursor as a reconnecting `WorkspaceSocket` does; a link that is offline finds the new rooms when it connects.
   * The new run starts pushing from the workspaces' sequences as stored, as a relay does when its first socket opens.
   */
  async restart(): Promise<void> {
    await this.#pushing
    const rooms = [...this.#rooms]
    this.#rooms.clear()
    this.#run++
    const online = [...this.#links].filter((link) => link.status === 'connected')
    for (const link of online) link.disconnect()
    for (const [, { end, handle }] of rooms) {
      end.destroy()
      await (await handle).destroy()
    }
    this.#pushed.clear()
    for (const w of await this.store.workspaces()) this.#pushed.set(w.id, w.seq)
    // The stand-in attaches a room's document asynchronously; a message reaching it before is lost: open them first.
    for (const [room] of rooms) await this.doc(room)
    for (const link of online) await link.connect()
  }

  /**
   * A sweep of the relay's purge (WS-PURGE-4, 5): every document of `workspace` whose tombstone in the stored
   * catalogue is past `retention` at `now` is purged from the store (WS-PURGE-3) and its room closed; from then on
   * every link's transport of it is refused (`Forbidden`, willRetry false, as a REFUSED SUBSCRIBE is) and nothing of
   * it is stored again. As the relay's purger, the refusals follow the catalogue as last read: a document whose record
   * is no longer a tombstone past the retention is served again. Rooms are always loaded here, so none is held.
   * Resolves with the rooms purged by this sweep.
   */
  async purge(workspace: string, retention: number, now: number): Promise<string[]> {
    await this.#pushing
    const due = new Set<string>()
    for (const { doc, deletedAt } of await loadCatalogueTombstones(this.store, workspace))
      if (isPastRetention(deletedAt, retention, now)) due.add(workspaceDocId(workspace, doc))
    for (const room of [...this.gone])
      if (room.startsWith(`${workspace}/`) && !due.has(room)) this.gone.delete(room)
    const purged: string[] = []
    for (const room of due) {
      if (this.gone.has(room)) continue
      this.gone.add(room)
      const entry = this.#rooms.get(room)
      this.#rooms.delete(room)
      if (entry) {
        entry.end.destroy()
        await (await entry.handle).destroy()
      }
      const doc = room.slice(workspace.length + 1)
      for (const link of this.#links) if (link.workspace === workspace) link._refuse(doc)
      await purgeWorkspaceDoc(this.store, workspace, doc)
      purged.push(room)
    }
    return purged
  }

  async destroy(): Promise<void> {
    for (const { end, handle } of this.#rooms.values()) {
      await (await handle).destroy()
      end.destroy()
    }
  }

  #push(id: DocId): void {
    const workspace = id.slice(0, id.indexOf('/'))
    if (!workspace) return
    this.#pushing = this.#pushing.then(async () => {
      const cursor = this.#pushed.get(workspace) ?? 0
      const page = await this.store.changesSince(workspace, cursor, 1000)
      this.#pushed.set(workspace, page.through)
      for (const link of this.#links) if (link.workspace === workspace) link._push(page.changes, page.through)
    })
  }
}

/**
 * An in-memory {@link WorkspaceLink}: a MemoryTransport per document linked to the relay's room endpoint while
 * the link is connected; `changed` pushed live and replayed from its cursor (in memory) at each connection,
 * followed by `caught-up`. `handledSeqs` records what the workspace reported handled.
 */
export class MemoryWorkspaceLink extends ObservableV2<WorkspaceLinkEvents> implements WorkspaceLink {
  readonly workspace: string
  readonly #relay: MemoryWorkspaceRelay
  readonly #name: string
  #status: TransportStatus = 'disconnected'
  readonly #transports = new Set<{ doc: string; t: MemoryTransport }>()
  /** Every change up to it was handled (or never concerned this link): the cursor a real link would store. */
  cursor = 0
  readonly handledSeqs = new Set<number>()
  readonly #unhandled = new Set<number>()
  #complete = 0
  /** Documents a transport was asked for, in order. */
  readonly asked: string[] = []

  constructor(relay: MemoryWorkspaceRelay, workspace: string, name: string) {
    super()
    this.#relay = relay
    this.workspace = workspace
    this.#name = name
  }

  get status(): TransportStatus {
    return this.#status
  }

  transportFor(docId: string): Transport {
    this.asked.push(docId)
    const t = this.#relay._transport(`${this.#name}:${this.workspace}/${docId}`)
    const entry = { doc: docId, t }
    this.#transports.add(entry)
    const destroy = t.destroy.bind(t)
    t.destroy = () => {
      this.#transports.delete(entry)
      destroy()
    }
    // A purged document is refused when its transport connects (the listeners are on by then).
    const connect = t.connect.bind(t)
    t.connect = () => {
      connect()
      if (this.#gone(docId)) this.#refused(t)
    }
    if (this.#status === 'connected' && !this.#gone(docId)) this.#relay.net.link(t, this.#end(docId))
    return t
  }

  #gone(doc: string): boolean {
    return this.#relay.gone.has(workspaceDocId(this.workspace, doc))
  }

  /** What a REFUSED {D, Forbidden, 'document deleted'} does to the document's transport (WS-PURGE-5). */
  #refused(t: MemoryTransport): void {
    // A MemoryTransport is never refused on its own; the workspace listens for `connection-error` on any transport.
    const refusals = t as unknown as ObservableV2<{ 'connection-error': (e: ConnectionError) => void }>
    refusals.emit('connection-error', [
      { code: CloseCode.Forbidden, reason: 'forbidden', name: 'Forbidden', willRetry: false },
    ])
  }

  /** @internal The relay purged `doc` (its room's endpoint is gone, so are the peers): its transports are refused. */
  _refuse(doc: string): void {
    if (this.#status !== 'connected') return
    for (const entry of this.#transports) if (entry.doc === doc) this.#refused(entry.t)
  }

  handled(seq: number): void {
    this.handledSeqs.add(seq)
    this.#unhandled.delete(seq)
    this.#advance()
  }

  #advance(): void {
    this.cursor = this.#unhandled.size === 0 ? this.#complete : Math.min(...this.#unhandled) - 1
  }

  #emitChange(doc: string, seq: number): void {
    if (!this.handledSeqs.has(seq)) this.#unhandled.add(seq)
    this.emit('changed', [{ doc, seq }])
  }

  async connect(): Promise<void> {
    if (this.#status === 'connected') return
    this.#status = 'connected'
    for (const { doc, t } of this.#transports) {
      if (this.#gone(doc)) this.#refused(t)
      else this.#relay.net.link(t, this.#end(doc))
    }
    this.emit('status', [{ status: 'connected' }])
    await this.#relay.pushed()
    const page = await this.#relay.store.changesSince(this.workspace, this.cursor, 100_000)
    if (this.#status !== 'connected') return
    for (const c of page.changes) this.#emitChange(c.doc, c.seq)
    this.#complete = Math.max(this.#complete, page.through)
    this.#advance()
    this.emit('caught-up', [{ through: page.through }])
  }

  disconnect(): void {
    if (this.#status === 'disconnected') return
    this.#status = 'disconnected'
    for (const { doc, t } of this.#transports) if (!this.#gone(doc)) this.#relay.net.cut(t, this.#end(doc))
    this.emit('status', [{ status: 'disconnected' }])
  }

  close(): void {
    this.disconnect()
    for (const { t } of [...this.#transports]) t.destroy()
  }

  /** @internal */
  _push(changes: ReadonlyArray<{ doc: string; seq: number }>, through: number): void {
    if (this.#status !== 'connected') return
    for (const c of changes) this.#emitChange(c.doc, c.seq)
    this.#complete = Math.max(this.#complete, through)
    this.#advance()
  }

  #end(doc: string): MemoryTransport {
    return this.#relay.endpoint(workspaceDocId(this.workspace, doc))
  }
}

/** Delivers messages and lets store writes, acks and pushes settle until nothing moves (no timers). */
export const settle = async (net: MemoryNetwork): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    net.flush()
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r))
    if (net.pending === 0) {
      await new Promise((r) => setImmediate(r))
      if (net.pending === 0) return
    }
  }
  throw new Error('network did not settle')
}
