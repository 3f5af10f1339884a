import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { decodeWorkspaceFrame } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { exited, startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'

// `weft serve` (SQLite) in its own process, Weft workspace clients in this one.

const servers: WeftServer[] = []
const workspaces: Workspace[] = []
afterEach(async () => {
  for (const ws of workspaces.splice(0)) await ws.destroy()
  for (const s of servers.splice(0)) await s.stop()
})

/** Every frame a client received, decoded, while `recording` is on. */
interface Tap {
  recording: boolean
  readonly frames: Array<{ kind: string; doc?: string; docs?: string[] }>
}

/** A `ws` WebSocket class that records the workspace frames it receives into `tap`. */
const tapped = (tap: Tap) =>
  class TappedWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols)
      this.on('message', (data: Buffer) => {
        if (!tap.recording) return
        const res = decodeWorkspaceFrame(new Uint8Array(data))
        if (!res.ok) return
        const f = res.frame
        if (f.kind === 'changes') tap.frames.push({ kind: f.kind, docs: f.changes.map((c) => c.doc) })
        else tap.frames.push({ kind: f.kind, ...('doc' in f ? { doc: f.doc } : {}) })
      })
    }
  }

const client = async (port: number, tap?: Tap, preload?: 'all'): Promise<Workspace> => {
  const store = new MemoryDocStore()
  const ws = await openWorkspace({
    id: 'team',
    store,
    relay: relaySocket(port, store, {
      maxReconnectMs: 200,
      ...(tap ? { WebSocketPolyfill: tapped(tap) } : {}),
    }),
    ...(preload ? { preload } : {}),
  })
  workspaces.push(ws)
  return ws
}

/** Resolves once `check()` holds, checked after each status, progress or list change of the workspaces. */
const until = (list: readonly Workspace[], check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      for (const ws of list) {
        ws.off('status', test)
        ws.off('progress', test)
        ws.list.off('change', test)
      }
      resolve()
    }
    for (const ws of list) {
      ws.on('status', test)
      ws.on('progress', test)
      ws.list.on('change', test)
    }
    test()
  })

const idle = (ws: Workspace) => ws.status === 'synced' && ws.loaded.length === 0 && ws.pendingChanges === 0

const ids = Array.from({ length: 50 }, (_, i) => `doc-${String(i).padStart(2, '0')}`)

/** Opens `id`, waits for its sync (to append after what the relay has), appends `text`, waits until stored, closes. */
const write = async (ws: Workspace, id: string, text: string): Promise<void> => {
  const doc = await ws.open(id)
  await doc.whenSynced
  const t = doc.doc.getText('t')
  t.insert(t.length, text)
  await doc.whenSaved()
  await ws.close(id)
}

/** Every document's text (open, read, close): as kept locally, or after its sync with the relay (`synced`). */
const contents = async (ws: Workspace, synced = false): Promise<Record<string, string>> => {
  const out: Record<string, string> = {}
  for (const id of ids) {
    const doc = await ws.open(id)
    if (synced) await doc.whenSynced
    out[id] = doc.doc.getText('t').toString()
    await ws.close(id)
  }
  return out
}

const catalogue = (ws: Workspace) =>
  [...ws.list.entries]
    .map((e) => ({ id: e.id, title: e.title, updatedAt: e.updatedAt, size: e.size }))
    .sort((a, b) => (a.id < b.id ? -1 : 1))

describe('workspaces across processes (weft serve, SQLite)', () => {
  it('WS-CLIENT-LINK-5, WS-CLIENT-7.1: 50 documents edited on two clients; one offline while the other edits 5: only those 5 are caught up, catalogues and contents equal', async () => {
    const server = await startWeftServer()
    servers.push(server)
    const tap: Tap = { recording: false, frames: [] }
    const a = await client(server.port)
    const b = await client(server.port, tap, 'all')
    await until([a, b], () => idle(a) && idle(b))
    for (const id of ids) expect(a.create({ id, title: id }).ok).toBe(true)
    for (const id of ids) await write(a, id, `${id} by a.`)
    for (const id of ids.filter((_, i) => i % 3 === 0)) {
      await until([b], () => b.list.get(id) !== undefined)
      await write(b, id, ' b too.')
    }
    await until([a, b], () => idle(a) && idle(b) && ids.every((id) => b.list.get(id)?.local === true))

    b.disconnect()
    const five = ids.slice(10, 15)
    for (const id of five) await write(a, id, ' offline edit.')
    await until([a], () => idle(a))

    tap.recording = true
    b.connect()
    await until([b], () => idle(b))
    // Idle means every change the catch-up reported was handled: b fetched all it was going to fetch.
    const docFrames = new Set(tap.frames.filter((f) => f.kind === 'doc').map((f) => f.doc))
    const listed = new Set(tap.frames.flatMap((f) => (f.kind === 'changes' ? f.docs! : [])))
    const pushed = new Set(tap.frames.filter((f) => f.kind === 'changed').map((f) => f.doc))
    const allowed = new Set([...five, '.catalogue'])
    expect([...docFrames].filter((d) => !allowed.has(d!))).toEqual([])
    expect([...listed, ...pushed].filter((d) => !allowed.has(d!))).toEqual([])
    for (const id of five) expect(docFrames.has(id)).toBe(true)

    expect(catalogue(b)).toEqual(catalogue(a))
    b.disconnect() // b answers from what it keeps locally
    const fromB = await contents(b)
    const fromA = await contents(a, true) // a keeps nothing in sync (no preload): it fetches
    expect(fromB).toEqual(fromA)
    for (const [i, id] of ids.entries())
      expect(fromA[id]).toBe(
        `${id} by a.${i % 3 === 0 ? ' b too.' : ''}${five.includes(id) ? ' offline edit.' : ''}`,
      )
  }, 60_000)

  it('WS-REL-2: the relay killed (SIGKILL) mid-edit and restarted on the same file loses nothing it acknowledged; the rest arrives on reconnection', async () => {
    const first = await startWeftServer()
    servers.push(first)
    const a = await client(first.port)
    await until([a], () => idle(a))
    a.create({ id: 'log', title: 'log' })
    const doc = await a.open('log')
    const t = doc.doc.getText('t')
    for (let i = 0; i < 20; i++) {
      t.insert(t.length, `[${i}]`)
      await doc.whenSaved() // acknowledged: the relay stored it durably
    }
    const acknowledged = t.toString()
    for (let i = 20; i < 30; i++) t.insert(t.length, `[${i}]`) // in flight when the relay dies
    first.child.kill('SIGKILL')
    await exited(first.child)
    const second = await startWeftServer({ dataDir: first.dataDir, port: first.port })
    servers.push(second)

    // What the relay has right after the restart: every acknowledged edit.
    const b = await client(second.port)
    const copy = await b.open('log')
    await copy.whenSynced
    expect(copy.doc.getText('t').toString().startsWith(acknowledged)).toBe(true)
    // a reconnects by itself and pushes what was not acknowledged.
    await doc.whenSaved()
    const all = Array.from({ length: 30 }, (_, i) => `[${i}]`).join('')
    expect(t.toString()).toBe(all)
    await new Promise<void>((resolve) => {
      const check = () => {
        if (copy.doc.getText('t').toString() !== all) return
        copy.doc.off('update', check)
        resolve()
      }
      copy.doc.on('update', check)
      check()
    })
    await a.close('log')
    await b.close('log')
    await until([a, b], () => idle(a) && idle(b))
    expect(catalogue(b)).toEqual(catalogue(a))
  }, 60_000)
})
