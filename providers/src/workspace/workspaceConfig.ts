import {
  CATALOGUE_DOC,
  DEFAULT_WORKSPACE_RETENTION_MS,
  type DocStore,
  type Fields,
  type SessionRules,
  type Transport,
} from '@weft/core'
import { openDoc, type WeftDoc } from '../WeftDoc.js'
import type { CatalogueSchema } from './catalogue.js'
import type { PreloadPolicy } from './preloadPolicy.js'
import { WorkspaceDocTransport } from './WorkspaceDocTransport.js'
import type { WorkspaceLink } from './WorkspaceLink.js'

/**
 * The default retention of a deleted document's data: 30 days (WS-CLIENT-2.2), the relay's default too
 * (`DEFAULT_WORKSPACE_RETENTION_MS` of `@weft/core`, WS-PURGE-1).
 */
export const DEFAULT_RETENTION_MS = DEFAULT_WORKSPACE_RETENTION_MS
/**
 * Documents a workspace syncs at once by default (WS-CLIENT-4.1): 16. A round of brief syncs of that many goes in one
 * wave (their loads' index marks, the relay's answers and their stored updates each in one commit), where with 4 a
 * reconnection after 10 documents changed took three waves in turn (issue 15).
 */
export const DEFAULT_CONCURRENCY = 16

/** A workspace-wide transport that gives each document its own `Transport` (e.g. `WorkspaceBroadcast`). */
export interface TransportSource {
  /** A transport for document `D` (not `W/D`), or the catalogue (`CATALOGUE_DOC`). */
  transportFor(docId: string): Transport
  /** Releases the source (called by `workspace.destroy()`). */
  close?(): void | Promise<void>
}

/** Options of `openWorkspace`. */
export interface OpenWorkspaceOptions<M extends Fields = Record<never, never>> {
  /** The workspace id `W`: non-empty, no `/`, at most 128 bytes. Document `D` of it is the relay room `W/D`. */
  readonly id: string
  /**
   * The local store of every document of the workspace (document `D` is stored under `W/D`, the catalogue under
   * `W/.catalogue`, this device's bookkeeping under `W/~local`). The workspace never closes it.
   */
  readonly store: DocStore
  /**
   * The relay: a {@link WorkspaceLink} (one connection for the whole workspace, e.g. a `WorkspaceSocket`), or a
   * function giving each document its own relay transport for room `W/D` (e.g.
   * `(room) => new WebSocketTransport({ url, room })`), as `openDoc({ relay })` takes one. The workspace owns what
   * it gets: a link is closed by `workspace.destroy()`, transports when their document is closed.
   */
  readonly relay?: WorkspaceLink | ((room: string) => Transport)
  /**
   * Other transports of each document: a function giving the transports of room `W/D` (WebRTC, BroadcastChannel...),
   * or workspace-wide sources that give each document its transport (`transportFor(D)`, e.g. a
   * `WorkspaceBroadcast`: one BroadcastChannel for every document). The workspace closes the sources in `destroy()`.
   */
  readonly transports?: ((room: string) => readonly Transport[]) | readonly TransportSource[]
  /** Which documents are kept locally and in sync (default: none; others are fetched when opened). */
  readonly preload?: PreloadPolicy<M>
  /** The app's metadata fields of each catalogue record (schema-layer fields, e.g. `{ color: s.string().optional('') }`). */
  readonly schema?: M
  /**
   * Bytes of local storage for the workspace's documents. Over it, the least recently opened documents are removed
   * from the local store, never an open, preloaded or syncing one, never one with pending changes (WS-CLIENT-5).
   * Default: no limit.
   */
  readonly budget?: number
  /** How long a deleted document's data is kept before every replica purges it (ms, default 30 days). */
  readonly retention?: number
  /**
   * Documents synced at once by preloading and pushing pending changes (default 16): each holds its `Y.Doc` while it
   * syncs.
   */
  readonly concurrency?: number
  /**
   * While a document is open and changed on this device, its record's `updatedAt` and `size` are written at most
   * this often (ms, default 10 s), so that other replicas see it change before it is closed (WS-CLIENT-1.4).
   */
  readonly touchMs?: number
  /**
   * The rules each document's peers are checked against (docs/guides/rules.md, RULES-6; `openDoc`'s `rules`): one
   * `SessionRules` for every document, or a function giving document `D`'s (`undefined`: none). The relay is their
   * authority unless `authority` says otherwise. Not for the catalogue, which the relay guards (WS-ACCESS).
   */
  readonly rules?: SessionRules | ((docId: string) => SessionRules | undefined)
  /** Connect right away (default true). */
  readonly connect?: boolean
  /** The clock (ms since the epoch); tests inject one. Default `Date.now`. */
  readonly now?: () => number
}

/** The options of a workspace as it uses them (defaults applied). */
export interface WorkspaceConfig<M extends Fields> {
  readonly id: string
  readonly store: DocStore
  readonly link: WorkspaceLink | null
  readonly relay: ((room: string) => Transport) | null
  readonly transports: ((room: string) => readonly Transport[]) | readonly TransportSource[]
  readonly policy: PreloadPolicy<M> | undefined
  readonly budget: number
  readonly retention: number
  readonly concurrency: number
  readonly touchMs: number
  readonly now: () => number
  readonly schema: CatalogueSchema<M>
  readonly rules: SessionRules | ((docId: string) => SessionRules | undefined) | undefined
}

/**
 * Opens document `d` of the workspace with its transports, as `openDoc` would. With a relay, a peer's change is not
 * forwarded to it (SYNC-3.6): the relay judges every write on this client's connection as this client's (WS-ACCESS,
 * RULES-4), so each writer sends its own. `store`: the store the document is persisted in (default the workspace's;
 * the catalogue's first load goes through a view of it, WS-CLIENT-8.1).
 */
export const openWorkspaceDoc = async <M extends Fields>(
  config: WorkspaceConfig<M>,
  d: string,
  connect: boolean,
  store: DocStore = config.store,
): Promise<WeftDoc> => {
  const room = `${config.id}/${d}`
  const relay = config.link ? config.link.transportFor(d) : config.relay ? config.relay(room) : undefined
  const transports =
    typeof config.transports === 'function'
      ? config.transports(room)
      : config.transports.map((source) => source.transportFor(d))
  const rules =
    d === CATALOGUE_DOC ? undefined : typeof config.rules === 'function' ? config.rules(d) : config.rules
  try {
    const doc = await openDoc({
      docId: room,
      store,
      ...(relay ? { relay, forward: 'not-to-authority' as const } : {}),
      ...(rules ? { rules } : {}),
      transports,
      connect,
    })
    // WS-WIRE-6: the link's SUBSCRIBE tells the relay which deletions the document holds.
    if (relay instanceof WorkspaceDocTransport) relay.attachDoc(doc.doc)
    return doc
  } catch (err) {
    relay?.destroy()
    for (const t of transports) t.destroy()
    throw err
  }
}
