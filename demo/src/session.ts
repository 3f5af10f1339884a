import type * as Y from 'yjs'
import type { WeftDoc } from '@weft/providers'
import { boardModelV1, boardModelV2, type BoardModel } from './board/BoardModel.js'
import { demoSchemaV1, demoSchemaV2, type DemoTypedDoc } from './board/boardSchema.js'
import { announcePaths } from './announcePaths.js'
import type { DemoWorkspace } from './demoWorkspace.js'
import { awarenessUser, type DemoUser } from './identity.js'
import { announceSchema, openTyped } from './schemaApi.js'

/** One open document: the Weft handle, its typed view, and the whiteboard model over it. */
export interface DemoSession {
  readonly id: string
  readonly handle: WeftDoc
  readonly typed: DemoTypedDoc
  readonly schema: typeof demoSchemaV1 | typeof demoSchemaV2
  readonly board: BoardModel
  /** The editor's text. */
  readonly body: Y.Text
  /** The text as loaded from the local store, before any network sync (the reload test reads it). */
  readonly localText: string
  /** The epoch the document was loaded in from the local store, before any network sync (`"0"`: never reset). */
  readonly localEpoch: string
  close(): Promise<void>
}

/** Options of {@link openSession}. */
export interface OpenSessionOptions {
  /** The document id `D` in the demo's workspace (its relay room is `demo/D`). */
  readonly id: string
  readonly workspace: DemoWorkspace
  readonly version: 1 | 2
  readonly user: DemoUser
}

const typedFor = (doc: Y.Doc, version: 1 | 2): { typed: DemoTypedDoc; board: BoardModel } => {
  if (version === 2) {
    const typed = openTyped(doc, demoSchemaV2)
    return { typed, board: boardModelV2(typed) }
  }
  const typed = openTyped(doc, demoSchemaV1)
  return { typed, board: boardModelV1(typed) }
}

/**
 * Opens a document of the demo's workspace lazily (`workspace.open`): the local IndexedDB copy at once, then synced
 * over the workspace's one relay connection, WebRTC peers found through the server's `/signal`, and other tabs
 * (BroadcastChannel). `close()` closes it in the workspace, which unloads it (no `Y.Doc` left).
 */
export const openSession = async ({
  id,
  workspace,
  version,
  user,
}: OpenSessionOptions): Promise<DemoSession> => {
  workspace.allowWebRtc(id)
  const handle = await workspace.workspace.open(id)
  // Opened right after the local load: migrations converge when peers migrate concurrently (SCHEMA-4.5), and
  // record steps also run on older data that arrives later.
  const { typed, board } = typedFor(handle.doc, version)
  const body = typed.root.body
  const paths = workspace.paths(id)
  handle.awareness.setLocalStateField('user', awarenessUser(user))
  announceSchema(handle.awareness, typed.schema)
  announcePaths(handle.awareness, {
    relay: workspace.relay,
    webrtc: paths?.webrtc ?? null,
    tabs: paths?.tabs ?? null,
  })
  return {
    id,
    handle,
    typed,
    schema: typed.schema,
    board,
    body,
    localText: body.toString(),
    localEpoch: handle.session.epoch,
    close: async () => {
      typed.destroy()
      await workspace.workspace.close(id)
    },
  }
}
