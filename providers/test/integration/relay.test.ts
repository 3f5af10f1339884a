import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, WebSocketTransport } from '../../src/index.js'
import { exited, startWeftServer, type WeftServer } from './support/weftServer.js'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
let server: WeftServer
let dir: string

beforeAll(async () => {
  server = await startWeftServer()
  dir = await mkdtemp(join(tmpdir(), 'weft-peer-'))
})
afterAll(async () => {
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

const relay = (room: string) =>
  new WebSocketTransport({ url: server.relayUrl, room, WebSocketPolyfill: WebSocket, minReconnectMs: 20 })

/** A Node peer process (support/nodePeer.ts) and a way to await its JSON answers. */
const peerProcess = (room: string, db: string) => {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'providers/test/integration/support/nodePeer.ts',
      server.relayUrl,
      room,
      db,
    ],
    { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const queue: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on('line', (l) => {
    queue.push(JSON.parse(l) as Record<string, unknown>)
    waiters.splice(0).forEach((w) => w())
  })
  const next = async (event: string) => {
    for (;;) {
      const i = queue.findIndex((m) => m.event === event)
      if (i >= 0) return queue.splice(i, 1)[0]!
      await new Promise<void>((r) => waiters.push(r))
    }
  }
  const send = (line: string) => child.stdin!.write(`${line}\n`)
  return { child, next, send }
}

describe('providers against a real weft serve', () => {
  it('PROV-6.1 two Node peers sync through the relay; a change is pending until the relay stored it', async () => {
    const a = await openDoc({ docId: 'r1', store: new MemoryDocStore(), relay: relay('r1') })
    const b = await openDoc({ docId: 'r1', relay: relay('r1') })
    await Promise.all([a.whenSynced, b.whenSynced])
    expect(a.paths.map((p) => [p.kind, p.weft])).toEqual([['relay', true]])
    const arrived = new Promise<void>((resolve) =>
      b.doc.on('update', () => b.doc.getText('t').toString() === 'hello' && resolve()),
    )
    a.doc.getText('t').insert(0, 'hello')
    expect(a.pendingChanges).toBe(1)
    expect(a.status).toBe('syncing')
    await arrived
    await a.whenSaved()
    expect(a.pendingChanges).toBe(0)
    await a.destroy()
    await b.destroy()
  })

  it('PROV-6.2 a peer killed right after a local edit (not yet acknowledged) restarts with the edit pending, then pushes it and sees it acknowledged', async () => {
    const db = join(dir, 'peer.sqlite')
    const first = peerProcess('r2', db)
    first.send('open 1')
    await first.next('opened')
    first.send('online')
    await first.next('synced')
    // Freeze the relay so that no acknowledgement can arrive, edit, and kill the peer once the edit is on its disk.
    server.child.kill('SIGSTOP')
    try {
      first.send('edit made before the crash')
      expect((await first.next('edited')).pending).toBe(1)
      first.child.kill('SIGKILL')
      await exited(first.child)
    } finally {
      server.child.kill('SIGCONT')
    }
    const second = peerProcess('r2', db)
    second.send('open 0')
    const opened = await second.next('opened')
    expect(opened.text).toBe('made before the crash')
    expect(opened.pending).toBe(1)
    second.send('online')
    const synced = await second.next('synced')
    expect(synced.pending).toBe(0)
    second.child.kill('SIGTERM')
    await exited(second.child)
    // The relay really has it: a fresh client with no local store receives it.
    const check = await openDoc({ docId: 'r2', relay: relay('r2') })
    await check.whenSynced
    expect(check.doc.getText('t').toString()).toBe('made before the crash')
    await check.destroy()
  })

  it('PROV-6.3 the relay restarts mid-session: status goes syncing -> synced and pending returns to 0 only after the relay stored the change', async () => {
    const a = await openDoc({ docId: 'r3', store: new MemoryDocStore(), relay: relay('r3') })
    await a.whenSynced
    const statuses: Array<[string, number]> = []
    a.on('status', ({ status, pendingChanges }) => statuses.push([status, pendingChanges]))
    const port = server.port
    await server.stop({ keepData: true })
    a.doc.getText('t').insert(0, 'while the relay was down')
    expect(a.pendingChanges).toBe(1)
    expect(a.status).not.toBe('synced')
    server = await startWeftServer({ dataDir: server.dataDir, port })
    await a.whenSaved()
    expect(a.pendingChanges).toBe(0)
    const firstSynced = statuses.findIndex(([s]) => s === 'synced')
    expect(statuses.slice(0, firstSynced).some(([s]) => s === 'syncing')).toBe(true)
    expect(statuses.filter(([s, p]) => s === 'synced' && p > 0)).toEqual([])
    await a.destroy()
    const check = await openDoc({ docId: 'r3', relay: relay('r3') })
    await check.whenSynced
    expect(check.doc.getText('t').toString()).toBe('while the relay was down')
    await check.destroy()
  })

  it("SYNC-10.1 a writer that reuses this client's id while it is offline does not take its offline edits: they reach the relay and every reader", async () => {
    const room = 'r-forged'
    const victim = await openDoc({ docId: room, store: new MemoryDocStore(), relay: relay(room) })
    await victim.whenSynced
    const text = victim.doc.getText('t')
    text.insert(0, 'online.')
    await victim.whenSaved()
    // What every peer saw of the victim while it was online: its client id (in its updates and its presence).
    const seenId = victim.doc.clientID
    const offline = new Promise<void>((resolve) => {
      victim.on('status', ({ status }) => status === 'offline' && resolve())
    })
    victim.disconnect()
    await offline

    // A stock client with write access copies the victim's client id (every peer sees it) and writes at the clocks
    // the victim's next edits will take.
    const forgerDoc = new Y.Doc()
    const forger = new WebsocketProvider(server.relayUrl, room, forgerDoc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    })
    const forgerId = forgerDoc.clientID
    await new Promise<void>((resolve) => forger.once('sync', () => resolve()))
    forgerDoc.clientID = seenId
    forgerDoc.getText('t').insert(0, 'FORGED ')
    const witness = await openDoc({ docId: room, relay: relay(room) })
    await witness.whenSynced
    await new Promise<void>((resolve) => {
      const look = () => witness.doc.getText('t').toString().includes('FORGED') && resolve()
      look()
      witness.doc.on('update', look)
    })
    forgerDoc.clientID = forgerId // y-websocket's destroy sends the removal of the doc's id from its awareness
    forger.destroy()
    await witness.destroy()

    text.insert(text.length, ' offline work')
    victim.connect()
    await victim.whenSaved()
    // The victim's edit is stored (acknowledged): a new reader's handshake brings it.
    const reader = await openDoc({ docId: room, relay: relay(room) })
    await reader.whenSynced
    // Before SYNC-10.1 the offline edit kept the victim's id: the relay held the forger's items at those clocks, took
    // the victim's for duplicates, and the reader never saw "offline work" while the victim counted it saved.
    expect(reader.doc.getText('t').toString()).toContain('offline work')
    expect(reader.doc.getText('t').toString()).toBe(text.toString())
    await reader.destroy()
    await victim.destroy()
  })
})
