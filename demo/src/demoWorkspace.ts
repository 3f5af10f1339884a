import type { DocStore, Transport } from '@weft/core'
import { BroadcastChannelTransport, openWorkspace, WorkspaceSocket, type Workspace } from '@weft/providers'
import { WebRtcTransport } from '@weft/providers/webrtc'
import { DEMO_WORKSPACE } from './docList.js'
import { demoToken, withDemoToken } from './devToken.js'
import { isLoopback, serverUrls, type DemoSettings } from './settings.js'

/** The transports a loaded document of the demo's workspace got besides the relay (the presence panel names them). */
export interface DocPaths {
  readonly tabs: BroadcastChannelTransport
  readonly webrtc: WebRtcTransport | null
}

/** The demo's workspace, and the per-document transports it created. */
export interface DemoWorkspace {
  readonly workspace: Workspace
  /** Whether documents sync through the relay (one `WorkspaceSocket` for the whole workspace). */
  readonly relay: boolean
  /** The tab and WebRTC transports of the document last allowed by {@link allowWebRtc}, once it loaded. */
  paths(docId: string): DocPaths | null
  /**
   * Lets `docId` have a WebRTC mesh when it loads next (the document the page opens). Documents synced in the
   * background (thousands, after "Large workspace") get none: one signaling room each would be thousands.
   */
  allowWebRtc(docId: string | null): void
  destroy(): Promise<void>
}

/** Options of {@link openDemoWorkspace}. */
export interface OpenDemoWorkspaceOptions {
  readonly store: DocStore
  readonly settings: DemoSettings
  /** Connect right away (false: the online switch is off). */
  readonly online: boolean
}

/**
 * Opens workspace `demo` offline-first: its catalogue (the document list) from IndexedDB at once, then synced over
 * one WebSocket to the relay's `/workspace/demo` (if the relay is on), BroadcastChannel to other tabs, and WebRTC for
 * the catalogue and the open document (if WebRTC is on). Documents open lazily: `workspace.open(id)`.
 */
export const openDemoWorkspace = async ({
  store,
  settings,
  online,
}: OpenDemoWorkspaceOptions): Promise<DemoWorkspace> => {
  const urls = serverUrls()
  const iceServers = isLoopback() ? { iceServers: [] } : {}
  const catalogueRoom = `${DEMO_WORKSPACE}/.catalogue`
  const opened = new Map<string, DocPaths>()
  let webrtcFor: string | null = null
  const transports = (room: string): Transport[] => {
    const docId = room.slice(DEMO_WORKSPACE.length + 1)
    const tabs = new BroadcastChannelTransport({ room })
    const webrtc =
      settings.webrtc && (room === catalogueRoom || docId === webrtcFor)
        ? new WebRtcTransport({ room, signaling: [withDemoToken(urls.signal)], ...iceServers })
        : null
    if (docId === webrtcFor) opened.set(docId, { tabs, webrtc })
    return webrtc ? [tabs, webrtc] : [tabs]
  }
  const workspace = await openWorkspace({
    id: DEMO_WORKSPACE,
    store,
    ...(settings.relay
      ? {
          relay: new WorkspaceSocket({
            url: urls.relay.replace(/\/relay$/, ''),
            workspace: DEMO_WORKSPACE,
            store,
            token: demoToken, // a demo arrangement: devToken.ts
          }),
        }
      : {}),
    transports,
    connect: online,
  })
  return {
    workspace,
    relay: settings.relay,
    paths: (docId) => opened.get(docId) ?? null,
    allowWebRtc: (docId) => {
      webrtcFor = docId
      opened.clear()
    },
    destroy: () => workspace.destroy(),
  }
}
