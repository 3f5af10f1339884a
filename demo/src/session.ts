import type * as Y from 'yjs'
import type { DocStore, Transport } from '@weft/core'
import { BroadcastChannelTransport, openDoc, WebSocketTransport, type WeftDoc } from '@weft/providers'
import { WebRtcTransport } from '@weft/providers/webrtc'
import { boardModelV1, boardModelV2, type BoardModel } from './board/BoardModel.js'
import { demoSchemaV1, demoSchemaV2, type DemoTypedDoc } from './board/boardSchema.js'
import { announcePaths } from './announcePaths.js'
import { awarenessUser, type DemoUser } from './identity.js'
import { announceSchema, openTyped } from './schemaApi.js'
import { isLoopback, serverUrls, type DemoSettings } from './settings.js'

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
  readonly id: string
  readonly store: DocStore
  readonly settings: DemoSettings
  readonly version: 1 | 2
  readonly user: DemoUser
  /** Connect right away (false: the online switch is off; `handle.connect()` connects later). */
  readonly online: boolean
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
 * Opens a document offline-first through `openDoc`: the local IndexedDB copy first, then the relay of the server
 * this page came from, WebRTC peers found through its `/signal`, and other tabs (BroadcastChannel).
 */
export const openSession = async ({
  id,
  store,
  settings,
  version,
  user,
  online,
}: OpenSessionOptions): Promise<DemoSession> => {
  const urls = serverUrls()
  const tabs = new BroadcastChannelTransport({ room: id })
  const iceServers = isLoopback() ? { iceServers: [] } : {}
  const webrtc = settings.webrtc
    ? new WebRtcTransport({ room: id, signaling: [urls.signal], ...iceServers }) // every room is the doc id
    : null
  const relay = settings.relay ? new WebSocketTransport({ url: urls.relay, room: id }) : null
  const transports: Transport[] = webrtc ? [tabs, webrtc] : [tabs]
  // The live epoch mode (COMPACT-8.3): the demo follows a history reset at once and rebinds by reopening (app.ts).
  const handle = await openDoc({
    docId: id,
    store,
    ...(relay ? { relay } : {}),
    transports,
    connect: online,
    epochs: 'live',
  })
  // Opened right after the local load: migrations converge when peers migrate concurrently (SCHEMA-4.5), and
  // record steps also run on older data that arrives later.
  const { typed, board } = typedFor(handle.doc, version)
  const body = typed.root.body
  handle.awareness.setLocalStateField('user', awarenessUser(user))
  announceSchema(handle.awareness, typed.schema)
  announcePaths(handle.awareness, { relay: relay !== null, webrtc, tabs })
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
      await handle.destroy()
    },
  }
}
