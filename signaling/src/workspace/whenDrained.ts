import type { Duplex } from 'node:stream'

/**
 * For a `FairSender` over a socket: calls `fn` once `socket` emitted `drain` (its write buffer emptied after a
 * write that filled it), or on the next turn when it waits for none (nothing more will come: a closed socket, or a
 * buffer under its high-water mark).
 */
export const whenDrained =
  (socket: Duplex) =>
  (fn: () => void): void => {
    if (socket.writableNeedDrain && !socket.destroyed) socket.once('drain', fn)
    else setImmediate(fn)
  }
