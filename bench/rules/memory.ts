/**
 * Memory per validated room: `rooms` boards already in the relay's store are loaded (one stock client connected to
 * each, one accepted change each, which on a ruled relay builds the room's validating view), and the relay's memory
 * after a full garbage collection is compared with its memory before.
 */
import { connectClient, tallyCloses, type BenchClient } from '../server/connectClient.js'
import { sameState, typedBoard, untilDocs } from './board.js'
import type { RelayMemory, RulesRelay } from './relay.js'

/** The room names of the memory phase. */
export const memoryRoom = (i: number): string => `mem-${i}`

/** Growth of the relay's memory per loaded room, in bytes. */
export interface MemoryResult {
  /** JavaScript heap plus external memory (Buffers, ArrayBuffers) after a full GC, per room. */
  readonly retainedPerRoom: number
  /** Resident set size, per room (context: the heap does not give pages back at once). */
  readonly rssPerRoom: number
  readonly before: RelayMemory
  readonly after: RelayMemory
}

/** Loads room `room` with a client that stays (returned) and one accepted change, seen by a second client. */
const loadRoom = async (relay: RulesRelay, room: string, i: number): Promise<BenchClient> => {
  const target = { kind: 'weft' as const, port: relay.port }
  const writer = connectClient(target, room)
  const reader = connectClient(target, room)
  try {
    await Promise.all([writer.synced, reader.synced])
    const r = typedBoard(writer.doc).root.shapes.update('s0', { x: 1 + i })
    if (!r.ok) throw new Error('the schema refused the move')
    // The reader holding the change means the relay accepted it.
    await untilDocs([writer.doc, reader.doc], () => sameState([writer.doc, reader.doc]))
    const closes = tallyCloses([writer, reader])
    if (Object.keys(closes).length > 0)
      throw new Error(`${relay.name} closed clients: ${JSON.stringify(closes)}`)
    return writer
  } catch (err) {
    writer.destroy()
    throw err
  } finally {
    reader.destroy()
  }
}

/**
 * Loads rooms `mem-1` .. `mem-{rooms}` of `relay` as described above, after room `mem-0` (untimed: the first room
 * of a relay pays one-time costs, code compiled and caches filled); the clients stay until measured.
 */
export const memoryPerRoom = async (relay: RulesRelay, rooms: number): Promise<MemoryResult> => {
  // Each y-websocket provider listens to the process's `exit`: one per room stays open here.
  process.setMaxListeners(Math.max(process.getMaxListeners(), rooms + 20))
  const writers: BenchClient[] = [await loadRoom(relay, memoryRoom(0), 0)]
  try {
    const before = await relay.memory()
    for (let i = 1; i <= rooms; i++) writers.push(await loadRoom(relay, memoryRoom(i), i))
    const after = await relay.memory()
    const retained = (m: RelayMemory) => m.heapUsed + m.external
    return {
      retainedPerRoom: (retained(after) - retained(before)) / rooms,
      rssPerRoom: (after.rss - before.rss) / rooms,
      before,
      after,
    }
  } finally {
    for (const w of writers) w.destroy()
  }
}
