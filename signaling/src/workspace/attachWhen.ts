import { CloseCode } from '@weft/core'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'

/**
 * Attaches `socket` now and delivers its messages to `handler` once `ready` settles: those that arrive meanwhile are
 * kept and delivered then, in order (at most `maxBytes` of them: beyond, the socket is closed `MemoryLimit`,
 * retryable); a close meanwhile reaches `handler` then, its kept messages dropped (as a closed socket drops them). For a decision that must wait for a read (the purge's catalogue read,
 * WS-PURGE-9) on a socket that delivers only to an attached handler. A throw of `handler` while the kept messages are
 * delivered closes the socket `InternalError`, as the socket itself would.
 */
export const attachWhen = (
  socket: RelaySocket,
  ready: Promise<unknown>,
  handler: RelaySocketHandler,
  maxBytes: number,
): void => {
  let held: Array<{ data: Buffer; isBinary: boolean }> | null = []
  let bytes = 0
  let closed = false
  const failed = (err: unknown): void => {
    socket.logger.error({ err }, 'handler failed')
    socket.close(CloseCode.InternalError, 'internal error')
  }
  socket.attach({
    onMessage: (data, isBinary) => {
      if (held === null) return handler.onMessage(data, isBinary)
      if (closed || !socket.open) return
      bytes += data.byteLength
      if (bytes > maxBytes) {
        held = []
        return socket.close(CloseCode.MemoryLimit, 'too much sent before the workspace was read')
      }
      held.push({ data, isBinary })
    },
    onClose: () => {
      if (held === null) handler.onClose()
      else closed = true
    },
  })
  const deliver = (): void => {
    const queue = held ?? []
    held = null
    for (const { data, isBinary } of queue) {
      if (!socket.open) break
      try {
        const result = handler.onMessage(data, isBinary)
        if (result) result.catch(failed)
      } catch (err) {
        failed(err)
      }
    }
    if (closed) handler.onClose()
  }
  void ready.then(deliver, deliver)
}
