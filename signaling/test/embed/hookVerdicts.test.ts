import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import type { WeftHooks } from '@weft/signaling'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from '../workspace/WorkspaceTestClient.js'

// HOOK-3.9: whatever `onUpdate` returns, sync or async, is read in one place; a malformed refusal never takes the
// server down (R2: an async `{ ok: false }` without a string reason was an uncaught TypeError, exit 1) and never
// becomes 4012 InternalError (which clients retry).

let srv: TestServer | null = null
const stocks: StockClient[] = []
const sockets: WorkspaceTestClient[] = []
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => void unhandled.push(reason)

beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
})

afterEach(async () => {
  for (const s of stocks.splice(0)) s.destroy()
  await Promise.all(sockets.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
  process.off('unhandledRejection', onUnhandled)
})

const stock = (room: string): StockClient => {
  const client = stockClient(`${srv?.ws}/relay`, room)
  stocks.push(client)
  return client
}

/** Resolves with the first close the stock client sees. */
const closedWith = (client: StockClient): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) =>
    client.provider.on('connection-close', (event) => {
      if (event) resolve({ code: event.code, reason: event.reason })
    }),
  )

/** Verdicts that refuse, and the close reason each gives. */
const refusing: Array<[string, unknown, string]> = [
  ['false', false, 'update refused'],
  ['{ ok: false } (no reason)', { ok: false }, 'update refused'],
  ['{ ok: false, reason: undefined }', { ok: false, reason: undefined }, 'update refused'],
  ['{ ok: false, reason: 42 }', { ok: false, reason: 42 }, 'update refused'],
  ['{ id: 1 } (an insert result)', { id: 1 }, 'update refused'],
  ['"no"', 'no', 'update refused'],
  ['{ ok: 0, reason }', { ok: 0, reason: 'falsy ok' }, 'falsy ok'],
  ['{ ok: false, reason }', { ok: false, reason: 'locked' }, 'locked'],
]
/** Verdicts that accept. */
const accepting: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['true', true],
  ['{ ok: true }', { ok: true }],
]
const kinds = ['sync', 'async'] as const
const an = (kind: (typeof kinds)[number]) => (kind === 'sync' ? 'a sync' : 'an async')

/** Hooks whose `onUpdate` gives `verdict` for updates to rooms ending in `victim`, accepting every other. */
const hooksGiving = (verdict: unknown, kind: (typeof kinds)[number]): WeftHooks => ({
  onUpdate: ({ room }) => {
    const v = (room.endsWith('victim') ? verdict : undefined) as never
    return kind === 'sync' ? v : Promise.resolve(v)
  },
})

describe('onUpdate verdicts (HOOK-3.9)', () => {
  for (const kind of kinds) {
    it.each(refusing)(
      `HOOK-3.9: ${an(kind)} verdict %s refuses with UpdateRefused; nothing stored; the server serves on, a bystander room syncs`,
      async (_name, verdict, reason) => {
        srv = await startTestServer({ hooks: hooksGiving(verdict, kind) })
        const writer = stock('other')
        const reader = stock('other')
        const victim = stock('victim')
        await Promise.all([writer.synced(), reader.synced(), victim.synced()])
        const closed = closedWith(victim)
        victim.doc.getText('t').insert(0, 'refused')
        expect(await closed).toEqual({ code: CloseCode.UpdateRefused, reason })
        writer.doc.getText('t').insert(0, 'still served')
        await textEquals(reader.doc, 'still served')
        const check = stock('victim')
        await check.synced()
        expect(check.doc.getText('t').toString()).toBe('')
        expect(unhandled).toEqual([])
      },
    )

    it.each(accepting)(`HOOK-3.9: ${an(kind)} verdict %s accepts the update`, async (_name, verdict) => {
      srv = await startTestServer({ hooks: hooksGiving(verdict, kind) })
      const victim = stock('victim')
      const reader = stock('victim')
      await Promise.all([victim.synced(), reader.synced()])
      victim.doc.getText('t').insert(0, 'accepted')
      await textEquals(reader.doc, 'accepted')
      expect(unhandled).toEqual([])
    })

    it.each(refusing)(
      `HOOK-3.9, WS-RELAY-4: on the workspace endpoint ${an(kind)} verdict %s is REFUSED with UpdateRefused for its document; the socket serves on`,
      async (_name, verdict, reason) => {
        srv = await startTestServer({ hooks: hooksGiving(verdict, kind) })
        const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
        sockets.push(ws)
        const victim = ws.subscribe('victim')
        const kept = ws.subscribe('kept')
        victim.getText('t').insert(0, 'refused')
        const refused = await ws.next((f: WorkspaceFrame) => f.kind === 'refused' && f.doc === 'victim')
        expect(refused.frame).toMatchObject({ code: CloseCode.UpdateRefused, reason })
        kept.getText('t').insert(0, 'kept')
        const reader = stock('team/kept')
        await textEquals(reader.doc, 'kept')
        expect(unhandled).toEqual([])
      },
    )
  }
})
