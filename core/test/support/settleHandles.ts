import type { DocHandle } from '../../src/index.js'
import type { MemoryNetwork } from '../../src/testing/index.js'

/** Delivers messages and lets store writes and acks settle until nothing moves (twice quiet in a row). */
export const settle = async (net: MemoryNetwork, handles: readonly DocHandle[]): Promise<void> => {
  for (let quiet = 0, i = 0; quiet < 2; i++) {
    if (i > 1000) throw new Error('did not settle')
    net.flush()
    await Promise.all(handles.map((h) => h.flushed()))
    await new Promise((r) => setImmediate(r))
    quiet = net.pending === 0 ? quiet + 1 : 0
  }
}
