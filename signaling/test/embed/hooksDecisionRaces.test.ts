import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import { RoomGrant, type AuthResult, type WeftHooks } from '@weft/signaling'
import { deferred } from '../helpers/GatedStore.js'
import { maskedFrame } from '../helpers/RawWsClient.js'
import { nodeHttpApp, type EmbeddingApp } from './examples.js'

// Issue 13 item 5, review findings: an upgrade's `authenticate` decision races with `revalidate()` (HOOK-1.6) and
// with its client going away (HOOK-1.7).

let app: EmbeddingApp | null = null
const sockets: Array<WebSocket | Socket> = []

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof WebSocket) s.terminate()
    else s.destroy()
  }
  await app?.close()
  app = null
})

/** One upgrade the `authenticate` hook is deciding: its request's socket, and the gate that lets it answer. */
interface Held {
  readonly user: string | null
  readonly socket: Duplex
  readonly release: () => void
}

/**
 * An `authenticate` hook as an app writes one: it reads its session store (`revoked`) first, then waits (for an
 * upgrade: until the test releases it, a slow lookup); each upgrade's call is announced on `held`.
 */
const slowHook = (revoked: Set<string>) => {
  const waiting: Held[] = []
  let wake: (() => void) | null = null
  const calls: Array<string | null> = []
  const authenticate: WeftHooks['authenticate'] = async ({ request, connection }) => {
    const user = new URL(request.url ?? '/', 'http://x').searchParams.get('user')
    calls.push(user)
    const allowed = user !== null && !revoked.has(user)
    if (!connection) {
      const gate = deferred()
      waiting.push({ user, socket: request.socket, release: () => gate.resolve() })
      wake?.()
      await gate.promise
    }
    const result: AuthResult = allowed
      ? {
          ok: true,
          grant: new RoomGrant({ notes: 'write', 'team/*': 'write' }, undefined, user ?? undefined),
        }
      : { ok: false, reason: 'revoked' }
    return result
  }
  /** The next upgrade the hook holds (in arrival order). */
  const next = async (): Promise<Held> => {
    while (waiting.length === 0) await new Promise<void>((resolve) => (wake = resolve))
    return waiting.shift() as Held
  }
  return { authenticate, next, calls }
}

const open = (url: string): WebSocket => {
  const ws = new WebSocket(url)
  ws.on('error', () => undefined)
  sockets.push(ws)
  return ws
}

/** A client of the raw TCP kind that sends an upgrade request for `path` and collects what the server answers. */
const rawUpgrade = async (
  port: number,
  path: string,
): Promise<{ socket: Socket; received: () => string }> => {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => undefined)
  let text = ''
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
  await once(socket, 'connect')
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  )
  return { socket, received: () => text }
}

const portOf = (a: EmbeddingApp): number => Number(new URL(a.http).port)

describe('an authenticate decision under way (HOOK-1.6, HOOK-1.7)', () => {
  for (const [endpoint, path] of [
    ['relay', '/collab/notes'],
    ['signal', '/signal'],
    ['workspace', '/workspace/team'],
  ] as const) {
    it(`HOOK-1.6: revalidate() during an upgrade's decision decides it again (${endpoint}): the revoked user is refused`, async () => {
      const revoked = new Set<string>()
      const hook = slowHook(revoked)
      app = await nodeHttpApp({ store: new MemoryDocStore(), signalPath: '/signal', hooks: hook })
      const ws = open(`ws://127.0.0.1:${portOf(app)}${path}?user=mallory`)
      const held = await hook.next()
      // The hook read the session store before mallory was revoked; the app revokes and revalidates meanwhile.
      revoked.add('mallory')
      expect(await app.relay.revalidate({ subject: 'mallory' })).toMatchObject({ checked: 0 })
      held.release()
      // Decided again, with the current state, before the upgrade was answered.
      const opened = once(ws, 'open')
      const again = await Promise.race([hook.next(), opened.then(() => null)])
      expect(again, 'the upgrade was answered with the first decision').not.toBeNull()
      again?.release()
      await opened
      expect(hook.calls).toEqual(['mallory', 'mallory'])
      const [code] = (await once(ws, 'close')) as [number]
      expect(code).toBe(CloseCode.Unauthorized)
    })
  }

  it('HOOK-1.6: a revalidate() whose filter does not match the upgrade leaves its decision as it is', async () => {
    const hook = slowHook(new Set())
    app = await nodeHttpApp({ store: new MemoryDocStore(), hooks: hook })
    const ws = open(`ws://127.0.0.1:${portOf(app)}/collab/notes?user=alice`)
    const held = await hook.next()
    await app.relay.revalidate({ subject: 'bob' })
    await app.relay.revalidate({ room: 'todo' })
    held.release()
    await once(ws, 'open')
    expect(hook.calls).toEqual(['alice'])
    // It is open, and a later revalidate() sees it.
    expect(await app.relay.revalidate({ subject: 'alice' })).toMatchObject({ checked: 1, kept: 1 })
    expect(ws.readyState).toBe(WebSocket.OPEN)
  })

  it('HOOK-1.6: a revalidate() during the second decision sends it back again', async () => {
    const revoked = new Set<string>()
    const hook = slowHook(revoked)
    app = await nodeHttpApp({ store: new MemoryDocStore(), hooks: hook })
    const ws = open(`ws://127.0.0.1:${portOf(app)}/collab/notes?user=mallory`)
    const first = await hook.next()
    await app.relay.revalidate({})
    first.release()
    const second = await hook.next()
    revoked.add('mallory')
    await app.relay.revalidate({})
    second.release()
    const third = await hook.next()
    third.release()
    const [code] = (await once(ws, 'close')) as [number]
    expect(code).toBe(CloseCode.Unauthorized)
    expect(hook.calls).toEqual(['mallory', 'mallory', 'mallory'])
  })

  it('HOOK-1.7: a client whose sending side ended during the decision is never accepted: no 101, no onConnect', async () => {
    let connects = 0
    let disconnects = 0
    const hook = slowHook(new Set())
    app = await nodeHttpApp({
      store: new MemoryDocStore(),
      hooks: { ...hook, onConnect: () => void connects++, onDisconnect: () => void disconnects++ },
    })
    const port = portOf(app)
    // One leaves with nothing more sent; one sends a frame after its request was taken, then leaves.
    const quiet = await rawUpgrade(port, '/collab/notes?user=a')
    const quietHeld = await hook.next()
    const chatty = await rawUpgrade(port, '/collab/notes?user=b')
    const chattyHeld = await hook.next()
    chatty.socket.write(maskedFrame(0x2, new Uint8Array([9, 9, 9, 9])))
    for (const [client, held] of [
      [quiet, quietHeld],
      [chatty, chattyHeld],
    ] as const) {
      const ended = once(held.socket, 'end')
      client.socket.end() // half-closed: it could still read an answer
      await ended // the relay saw the client leave
      const gone = once(client.socket, 'close')
      held.release()
      await gone
      expect(client.received()).toBe('')
    }
    // An honest client afterwards is served, and it is the only connection the hooks heard of.
    const ws = open(`ws://127.0.0.1:${port}/collab/notes?user=c`)
    ;(await hook.next()).release()
    await once(ws, 'open')
    expect(connects).toBe(1)
    expect(disconnects).toBe(0)
  })

  it('HOOK-1.7: bytes a client sends during its decision are kept for its connection', async () => {
    const updates: Uint8Array[] = []
    const stored = deferred()
    const hook = slowHook(new Set())
    app = await nodeHttpApp({
      store: new MemoryDocStore(),
      hooks: {
        ...hook,
        onUpdate: ({ update }) => {
          updates.push(update)
          stored.resolve()
        },
      },
    })
    const client = await rawUpgrade(portOf(app), '/collab/notes?user=a')
    const held = await hook.next()
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'early')
    client.socket.write(maskedFrame(0x2, encodeSyncUpdate(Y.encodeStateAsUpdate(doc))))
    held.release()
    await stored.promise
    const copy = new Y.Doc()
    Y.applyUpdate(copy, updates[0] as Uint8Array)
    expect(copy.getText('t').toString()).toBe('early')
  })
})
