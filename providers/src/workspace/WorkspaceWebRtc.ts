import { requireWorkspaceId } from './catalogue.js'
import { WebRtcTransport } from '../webrtc/WebRtcTransport.js'
import type { WebRtcTransportOptions } from '../webrtc/WebRtcTransportOptions.js'
import { DocMux } from './DocMux.js'

/** Options of {@link WorkspaceWebRtc}: those of `WebRtcTransport`, with the workspace instead of the room. */
export interface WorkspaceWebRtcOptions extends Omit<WebRtcTransportOptions, 'room'> {
  /** The workspace id `W`: the peers join the signaling room `W/.workspace` (encrypted with `password`, if set). */
  readonly workspace: string
}

/** The signaling room of a workspace's WebRTC mesh: `W/.workspace` (no document is named `.workspace`). */
export const workspaceRoom = (workspace: string): string => `${workspace}/.workspace`

/**
 * One WebRTC mesh for every document of workspace `W` (WS-PEER-5): ONE `WebRtcTransport` for the signaling room
 * `W/.workspace` (one subscription per signaling server, one connection per remote peer), and a `Transport` per
 * document (`transportFor(D)`) whose peers are the remote peers that have `D` connected. Pass it in `openWorkspace`'s
 * `transports`; it also runs the workspace's peer summary (WS-PEER-1).
 */
export class WorkspaceWebRtc extends DocMux {
  constructor(options: WorkspaceWebRtcOptions) {
    requireWorkspaceId(options.workspace)
    const { workspace, ...rest } = options
    super(workspace, new WebRtcTransport({ ...rest, room: workspaceRoom(workspace) }))
  }
}
