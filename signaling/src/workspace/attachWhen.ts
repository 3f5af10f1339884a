import { CloseCode } from '@weft/core'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'

/**
 * Attaches `socket` now and delivers its messages to `handler` once `ready` settles: those that arrive meanwhile are
 * kept and delivered then, in order; a close meanwhile reaches `handler` then, its kept messages dropped (as a closed
 * socket drops them). For a decision that must wait for a read (the purge's catalogue read, WS-PURGE-9) on a socket
 * that delivers only to an attached handler. The kept bytes are charged to the socket's own memory budget
 * (`socket.trackInput`, the server's budget for held input, CONN-11: past it the connection holding the most is
 * closed `MemoryLimit`, retryable) and given back once delivered or dropped; there is no second allowance here. A
 * throw of `handler` while the kept messages are delivered closes the socket `InternalError`, as the socket itself
 * would.
 */
export const attachWhen = (
  socket: RelaySocket,
  ready: Promise<unknown>,
  handler: RelaySocketHandler,
): void => {
  let held: Array<{ data: Buffer; isBinary: boolean }> | null = []
  let bytes = 0
  let closed = false
  /**
   * Gives the kept bytes back to the budget (they are delivered now, or never). Once the socket is closing it gives
   * back everything it holds itself when it closes (and may have already: a budget that sheds it releases it).
   */
  const release = (): void => {
    if (bytes !== 0 && socket.open) socket.trackInput(-bytes)
    bytes = 0
  }
  const failed = (err: unknown): void => {
    socket.logger.error({ err }, 'handler failed')
    socket.close(CloseCode.InternalError, 'internal error')
  }
  socket.attach({
    onMessage: (data, isBinary) => {
      if (held === null) return handler.onMessage(data, isBinary)
      if (closed || !socket.open) return
      held.push({ data, isBinary })
      bytes += data.byteLength
      socket.trackInput(data.byteLength)
    },
    onClose: () => {
      if (held === null) return handler.onClose()
      closed = true
      held = []
      release()
    },
  })
  const deliver = (): void => {
    const queue = held ?? []
    held = null
    release()
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
