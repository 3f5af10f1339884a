import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import * as Y from 'yjs'
import { decodeMessage } from '@weft/core/protocol'
import type { RelayRoom, RelayPeer } from '../../src/relay/RelayRoom.js'
import { bytesOf } from '../../src/relay/SharedMessage.js'
import type { RoomMessage } from '../../src/scaleout/RedisRoomBus.js'
import { ScaleOutRoom } from '../../src/scaleout/ScaleOutRoom.js'
import { testRoom } from '../relay/unit/memoryRelay.js'
import { deepNesting, nullSubdocOptions, selfOrigin, tinyUpdate } from '../relay/hostileFixtures.js'

const textOf = (doc: RelayRoom): string => {
  const y = new Y.Doc()
  Y.applyUpdate(y, doc.log.state())
  return y.getText('t').toString()
}

/** A room on a fake node whose bus brings `updates` in clock order (as another node stored them). */
const setup = (remoteCompacted: () => void = () => undefined) => {
  const published: RoomMessage[] = []
  const room = new ScaleOutRoom('r', {
    readSince: () => Promise.resolve({ snapshot: null, snapshotClock: 0, updates: [], clock: 0 }),
    publish: (_room, m) => published.push(m),
    remoteCompacted,
    logger: pino({ level: 'silent' }),
    gapWaitMs: 5,
  })
  const doc = testRoom('r')
  const received: Uint8Array[] = []
  const peer: RelayPeer = { sendMessage: (m) => received.push(bytesOf(m)) }
  doc.joined(peer)
  room.attach(doc, 0)
  return { room, doc, received }
}

describe('ScaleOutRoom against updates Yjs cannot merge or apply (issue 17.1)', () => {
  it('SCALE-2.7 poison updates from another node and 300 tiny ones: the handler never throws, the poison is skipped', () => {
    const { room, doc, received } = setup()
    // As a node without SYNC-3.5 would have stored and published them.
    const poison = [nullSubdocOptions(), selfOrigin(), deepNesting(2000).nested]
    const tiny = Array.from({ length: 300 }, (_, i) => tinyUpdate(7, i))
    const stream = [tiny[0] as Uint8Array, ...poison, ...tiny.slice(1)]
    stream.forEach((update, i) => {
      expect(() => room.receive({ type: 'update', origin: 'n2', clock: i + 1, update })).not.toThrow()
    })
    expect(room.applied).toBe(stream.length)
    expect(received.length).toBe(300)
    expect(received.every((m) => decodeMessage(m).type === 'sync-update')).toBe(true)
    expect(textOf(doc)).toBe('x'.repeat(300))
  })

  it('SCALE-2.7 a bus message that fails to be handled is logged, not thrown into the Redis client', () => {
    const { room, doc } = setup(() => {
      throw new Error('reload failed')
    })
    const garbage = { type: 'awareness', origin: 'n2', update: new Uint8Array([200, 200, 200]) } as const
    expect(() => room.receive(garbage)).not.toThrow()
    expect(() => room.receive({ type: 'compacted', origin: 'n2', clock: 1, bytes: 10 })).not.toThrow()
    room.receive({ type: 'update', origin: 'n2', clock: 1, update: tinyUpdate(7, 0) })
    expect(textOf(doc)).toBe('x')
  })

  it('RELAY-9.5 nesting that arrives over the bus raises the document bound, so a local insert past the limit is judged on the whole state', () => {
    const { room, doc } = setup()
    doc.nestingMeasured(0) // an exact bound, as after a load
    const source = new Y.Doc({ gc: false })
    let parent = source.getMap('root')
    source.transact(() => {
      for (let i = 0; i < 900; i++) {
        const child = new Y.Map<unknown>()
        parent.set('c', child)
        parent = child
      }
    })
    room.receive({ type: 'update', origin: 'n2', clock: 1, update: Y.encodeStateAsUpdate(source) })
    expect(doc.nestingBound).toBeGreaterThanOrEqual(900)
  })
})
