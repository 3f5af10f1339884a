/**
 * RULES-5.16 against a real `weft serve --rules` over WebSocket: a writer's edits made before the handshake travel
 * in its step 2 (SYNC-3.8); the relay refuses the last of them, and the valid value that edit overwrote reaches the
 * relay instead of being lost.
 */
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { openTyped } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { WebSocketTransport, openDoc } from '../../src/index.js'
import { startWeftServer } from '../integration/support/weftServer.js'
import { xCapBoard } from './support/xCapBoard.js'

const RULES = fileURLToPath(new URL('./support/xCapRules.mjs', import.meta.url))

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const relay = (url: string) => new WebSocketTransport({ url, room: 'board', WebSocketPolyfill: WebSocket })

describe('a valid value a later refused one overwrote (weft serve --rules)', { timeout: 60_000 }, () => {
  it('RULES-5.16 RULES-5.12: a new shape at x = 1, moved to 10, then to 150 before the handshake: refused once, x = 10 is saved at the relay', async () => {
    const server = await startWeftServer({ rules: RULES })
    cleanups.push(() => server.stop())
    const doc = await openDoc({ docId: 'board', store: new MemoryDocStore(), relay: relay(server.relayUrl) })
    cleanups.push(() => doc.destroy())
    const rejected: string[] = []
    doc.on('rejected', (e) => rejected.push(`${e.ruleId} ${e.path.join('/')}`))
    const shapes = openTyped(doc.doc, xCapBoard).root.shapes
    shapes.insert({ x: 1 }, { id: 's1' })
    shapes.update('s1', { x: 10 })
    shapes.update('s1', { x: 150 }) // refused: x.max
    await doc.whenSaved()
    expect(rejected).toEqual(['shapes.x.max shapes/s1/x'])
    expect(shapes.get('s1')).toEqual({ id: 's1', x: 10 })

    const reader = await openDoc({ docId: 'board', relay: relay(server.relayUrl) })
    cleanups.push(() => reader.destroy())
    await reader.whenSynced
    expect(openTyped(reader.doc, xCapBoard).root.shapes.get('s1')).toEqual({ id: 's1', x: 10 })
  })
})
