/** RELAY-4.10, HOOK-1.6: a storm of revalidate() calls costs at most one more decision per connection. */
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { RoomGrant, type AuthResult, type WeftHooks } from '../../src/index.js'
import { deferred } from '../helpers/GatedStore.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

type Access = 'read' | 'write' | null

let srv: TestServer | null = null
const clients: Array<{ close(): unknown }> = []
const sockets: WebSocket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

/**
 * An app's hook: alice's access to `notes` is read from `access` when the hook starts; a decision (of an open
 * connection when `slowRedecisions`, of an upgrade when `slowUpgrades`) then waits until the test releases it.
 */
const appHook = (opts: { slowUpgrades?: boolean }) => {
  const state: { access: Access } = { access: 'write' }
  const gates: Array<() => void> = []
  let wake: (() => void) | null = null
  const calls = { upgrade: 0, redecision: 0 }
  let slow = false
  const authenticate: WeftHooks['authenticate'] = async ({ token, connection }) => {
    if (connection) calls.redecision++
    else calls.upgrade++
    const access = state.access
    if (connection ? slow : opts.slowUpgrades) {
      const gate = deferred()
      gates.push(() => gate.resolve())
      wake?.()
      await gate.promise
    }
    const result: AuthResult =
      access === null
        ? { ok: false, reason: 'removed' }
        : { ok: true, grant: new RoomGrant({ notes: access }, undefined, token) }
    return result
  }
  /** The next decision the hook holds, in arrival order; `release` lets it answer. */
  const next = async (): Promise<() => void> => {
    while (gates.length === 0) await new Promise<void>((resolve) => (wake = resolve))
    return gates.shift() as () => void
  }
  return { state, calls, authenticate, next, slowDown: () => (slow = true) }
}

describe('revalidate() storms (RELAY-4.10, HOOK-1.6)', () => {
  it('RELAY-4.10: 50 revalidate() calls during one slow re-decision cost at most 2 hook calls; the latest access wins', async () => {
    const hook = appHook({})
    srv = await startTestServer({ hooks: { authenticate: hook.authenticate } })
    const alice = await TestClient.open(`${srv.ws}/relay/notes?token=alice`)
    clients.push(alice)
    expect(hook.calls).toEqual({ upgrade: 1, redecision: 0 })
    hook.slowDown()
    const first = srv.server.revalidate({ subject: 'alice' })
    const release = await hook.next()
    // The app changes alice's access while the first decision (which read `write`) is under way, and calls again and
    // again: 50 calls, all during that one decision.
    hook.state.access = 'read'
    const storm = Array.from({ length: 50 }, () => srv?.server.revalidate({ subject: 'alice' }))
    release()
    const again = await hook.next()
    // One decision after the first, shared by the 50 calls (without the coalescing: 51 at once).
    expect(hook.calls.redecision).toBe(2)
    again()
    const results = await Promise.all([first, ...storm])
    expect(hook.calls.redecision).toBe(2)
    // The first decision read `write` before the change: not applied. The one after it read `read`: applied.
    expect(results[0]).toMatchObject({ checked: 1, kept: 1, downgraded: 0 })
    for (const r of results.slice(1)) expect(r).toMatchObject({ checked: 1, kept: 0, downgraded: 1 })
    // Read-only now: its next update closes it with ReadOnly.
    const edit = new Y.Doc()
    edit.getText('t').insert(0, 'after the downgrade')
    alice.send(encodeSyncUpdate(Y.encodeStateAsUpdate(edit)))
    expect((await alice.closed).code).toBe(CloseCode.ReadOnly)
  })

  it('RELAY-4.10: a re-decision that never settles holds the next one back for headersTimeoutMs at most', async () => {
    const hook = appHook({})
    srv = await startTestServer({
      hooks: { authenticate: hook.authenticate },
      limits: { headersTimeoutMs: 200 },
    })
    const alice = await TestClient.open(`${srv.ws}/relay/notes?token=alice`)
    clients.push(alice)
    hook.slowDown()
    // The first decision hangs (never released).
    void srv.server.revalidate({ subject: 'alice' })
    const hanging = await hook.next()
    hook.state.access = null
    const second = srv.server.revalidate({ subject: 'alice' })
    ;(await hook.next())()
    expect(await second).toMatchObject({ checked: 1, closed: 1 })
    expect((await alice.closed).code).toBe(CloseCode.AccessRevoked)
    // The hung decision's verdict, when it comes at last, is not applied.
    hanging()
    expect(hook.calls.redecision).toBe(2)
  })

  it('HOOK-1.6: 50 revalidate() calls during one slow upgrade decision cost one more hook call; the latest wins', async () => {
    const hook = appHook({ slowUpgrades: true })
    srv = await startTestServer({ hooks: { authenticate: hook.authenticate } })
    const ws = new WebSocket(`${srv.ws}/relay/notes?token=alice`)
    ws.on('error', () => undefined)
    sockets.push(ws)
    const release = await hook.next()
    hook.state.access = null
    await Promise.all(Array.from({ length: 50 }, () => srv?.server.revalidate({ subject: 'alice' })))
    release()
    ;(await hook.next())()
    const [code] = (await once(ws, 'close')) as [number]
    expect(code).toBe(CloseCode.Unauthorized)
    expect(hook.calls).toEqual({ upgrade: 2, redecision: 0 })
  })
})
