/** HOOK-1.7, CONN-11.2: bytes held while an upgrade is decided are charged to the server's input budget. */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { RoomGrant, type WeftHooks } from '../../src/index.js'
import { deferred } from '../helpers/GatedStore.js'
import { maskedFrame, RawWsClient } from '../helpers/RawWsClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

let srv: TestServer | null = null
const raws: RawWsClient[] = []

afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy()
  await srv?.close()
  srv = null
})

/** An `authenticate` hook that holds every upgrade until the test releases it (a slow session lookup). */
const gatedHook = () => {
  const gates: Array<() => void> = []
  let wake: (() => void) | null = null
  const authenticate: WeftHooks['authenticate'] = async ({ token }) => {
    const gate = deferred()
    gates.push(() => gate.resolve())
    wake?.()
    await gate.promise
    return { ok: true, grant: new RoomGrant({ '*': 'write' }, undefined, token) }
  }
  const next = async (): Promise<() => void> => {
    while (gates.length === 0) await new Promise<void>((resolve) => (wake = resolve))
    return gates.shift() as () => void
  }
  return { authenticate, next }
}

/** Bytes the server holds for unfinished incoming input, over all connections (its `/metrics` gauge). */
const pending = (): number => (srv as TestServer).server.metrics.get('weft_pending_input_bytes')

/**
 * Waits (event-loop turns, at most 10 s) until `condition` holds: the server reads what a client sent at its own
 * pace, and nothing the test can await tells it has.
 */
const until = async (condition: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  expect(condition(), what).toBe(true)
}

/** A stored update of about 60 KiB, as one masked binary frame: what an eager client sends before its answer. */
const earlyFrame = (): Buffer => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'e'.repeat(60 * 1024))
  return maskedFrame(0x2, encodeSyncUpdate(Y.encodeStateAsUpdate(doc)))
}

describe('bytes sent before the upgrade is decided (HOOK-1.7, CONN-11.2)', () => {
  it('HOOK-1.7: they are charged to the input budget; past it the largest holders are refused with MemoryLimit', async () => {
    const frame = earlyFrame()
    const budget = 3 * frame.length + 1024
    const hook = gatedHook()
    srv = await startTestServer({
      hooks: { authenticate: hook.authenticate },
      limits: { maxPendingInputBytes: budget },
    })
    const releases: Array<() => void> = []
    let most = 0
    for (let i = 0; i < 6; i++) {
      const c = await RawWsClient.connect(srv.port, RawWsClient.request(`/relay/early?token=u${i}`))
      raws.push(c)
      releases.push(await hook.next())
      c.socket.write(frame)
      // Each client's bytes are held (charged); from the fourth on, the oldest holder is shed to make room.
      const held = Math.min(i + 1, 3) * frame.length
      await until(() => pending() === held, `client ${i}'s early bytes charged (${pending()} of ${held})`)
      most = Math.max(most, pending())
    }
    expect(most).toBeLessThanOrEqual(budget)
    // The three shed upgrades are refused with MemoryLimit (a 101, then the close frame); nothing of them is kept.
    for (const c of raws.slice(0, 3)) {
      expect((await c.response()).status).toBe(101)
      const close = await c.frame()
      expect(close?.payload.readUInt16BE(0)).toBe(CloseCode.MemoryLimit)
    }
    // The decisions come: the other three are accepted, their early bytes handed to their connections (the budget's
    // counter drops to what their parsers still hold: nothing, each frame is whole).
    for (const release of releases) release()
    for (const c of raws.slice(3)) expect((await c.response()).status).toBe(101)
    await until(() => pending() === 0, 'everything released once handled')
  })

  it('HOOK-1.7: bytes pipelined with the upgrade request are charged too, and handed to the accepted connection', async () => {
    const frame = earlyFrame()
    const hook = gatedHook()
    srv = await startTestServer({ hooks: { authenticate: hook.authenticate } })
    const c = await RawWsClient.connect(srv.port, '')
    raws.push(c)
    // One write: the request and the frame behind it (Node hands such bytes over with the request, as its `head`).
    c.socket.write(Buffer.concat([Buffer.from(RawWsClient.request('/relay/early?token=eager')), frame]))
    const release = await hook.next()
    await until(() => pending() === frame.length, 'the pipelined bytes charged')
    release()
    expect((await c.response()).status).toBe(101)
    await until(() => pending() === 0, 'released once handed to the connection')
  })

  it('HOOK-1.7: a client that leaves while its decision hangs gives its held bytes back at once', async () => {
    const frame = earlyFrame()
    const hook = gatedHook()
    srv = await startTestServer({ hooks: { authenticate: hook.authenticate } })
    const c = await RawWsClient.connect(srv.port, RawWsClient.request('/relay/early?token=gone'))
    raws.push(c)
    await hook.next() // never released
    c.socket.write(frame)
    await until(() => pending() === frame.length, 'the early bytes charged')
    c.socket.destroy()
    await until(() => pending() === 0, 'released when the socket closed, the hook still pending')
  })
})
