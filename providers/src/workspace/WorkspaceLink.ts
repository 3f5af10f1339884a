import type { ObservableV2 } from 'lib0/observable'
import type { Transport, TransportStatus } from '@weft/core'

/** Events of a {@link WorkspaceLink}. One payload object per event. */
export type WorkspaceLinkEvents = {
  /**
   * Document `doc` (a document id `D` of the workspace, not `W/D`) was stored by the relay with change sequence
   * `seq`. Emitted for every change the relay pushes live (CHANGED) and for every change of a catch-up page
   * (CHANGES), for every document of the workspace the link may read, whether a transport for it exists or not.
   * The same `seq` may be emitted more than once (a catch-up overlapping a live push); handlers are idempotent.
   */
  changed: (event: { readonly doc: string; readonly seq: number }) => void
  /**
   * A catch-up finished: every change with a sequence `<= through` was emitted as `changed` (in this connection or
   * an earlier one). Emitted after each (re)connection's last CHANGES page.
   */
  'caught-up': (event: { readonly through: number }) => void
  /** The link's connection status changed. */
  status: (event: { readonly status: TransportStatus }) => void
}

/**
 * The connection a workspace syncs its documents over: one link for the whole workspace `W` (one WebSocket to the
 * relay's multiplexed endpoint, `WorkspaceSocket`), giving each document its own {@link Transport}, so that each
 * document runs its ordinary sync session unchanged. `openWorkspace({ relay })` takes one; tests use an in-memory
 * implementation.
 *
 * Contract (docs/spec/workspaces.md):
 * - {@link transportFor} returns a `Transport` for document `D` of the workspace (an app document or the catalogue,
 *   `CATALOGUE_DOC`), whose only peer is the relay's room `W/D`; its `room`, if it has one, is `"W/D"`. The link subscribes the document when that transport is
 *   connected and unsubscribes it when it is disconnected or destroyed. The workspace owns the transports it asks
 *   for and destroys each when it closes the document. Asking twice for the same document while the first
 *   transport is alive is a programmer error.
 * - `changed` and `caught-up` report the workspace's change sequence; the link persists its own cursor.
 *   The link advances its persisted cursor only over a contiguous run of sequence numbers that the workspace
 *   reported {@link handled}, so a change that arrived but was not acted on before a crash is sent again by the
 *   next catch-up.
 * - {@link close} disconnects and releases every transport it gave out; afterwards `transportFor` throws.
 */
export interface WorkspaceLink extends ObservableV2<WorkspaceLinkEvents> {
  /** The workspace id `W`. */
  readonly workspace: string
  /** The connection's status (`connected` once the socket is open). */
  readonly status: TransportStatus
  /** A transport carrying document `D` (not `W/D`) of the workspace; see the contract above. */
  transportFor(docId: string): Transport
  /**
   * The workspace has acted on change `seq` (reported by `changed`): the document is stored locally through it, or
   * the workspace does not keep that document. Calls may come in any order; the link persists its cursor at the
   * end of the contiguous run of handled sequence numbers.
   */
  handled(seq: number): void
  /** Opens the connection (and reopens it after {@link disconnect}); idempotent. */
  connect(): void | Promise<void>
  /** Closes the connection until {@link connect}; transports given out stay valid and resubscribe on reconnect. */
  disconnect(): void
  /** Closes the connection for good and destroys every transport given out. */
  close(): void | Promise<void>
}
