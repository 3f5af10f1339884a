import { WeftError, WeftErrorCode, type Transport } from '@weft/core'

/**
 * Throws a {@link WeftError} (`invalid-argument`) if a transport that has a `room` (WebSocket, WebRTC, LAN,
 * BroadcastChannel) names another room than the document id: the document would otherwise sync with another
 * document's peers, or store its edits under another name on the relay (PROV-5.12).
 */
export const requireMatchingRooms = (docId: string, transports: readonly Transport[]): void => {
  for (const t of transports) {
    const room = (t as { readonly room?: unknown }).room
    if (typeof room !== 'string' || room === docId) continue
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      `openDoc({ docId: ${JSON.stringify(docId)} }): the ${t.kind} transport's room is ${JSON.stringify(room)}; ` +
        'every transport of a document must use the document id as its room',
    )
  }
}
