import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { ObservableV2 } from 'lib0/observable'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { BRIEF_SYNC_STALL_MS, BackgroundSync } from '../../src/workspace/BackgroundSync.js'
import type { WeftDoc } from '../../src/WeftDoc.js'
import { exited } from '../integration/support/weftServer.js'
import { relaySocket } from './support/relaySocket.js'

// Issue #15 (data-safety review): a brief sync waited for `synced`, which a document with a waiting epoch never
// reaches while open (COMPACT-8.1). After the relay reset x's epoch while A held an offline edit of x, A's background
// sync held x for ever; with concurrency 1 a second offline-edited document y was never pushed.

const repo = fileURLToPath(new URL('../../../', import.meta.url))

/** `weft serve` with `--epoch-reset` at low thresholds; `switched` resolves at its first `switched epoch` log line. */
interface EpochServer {
  readonly port: number
  readonly switched: Promise<void>
  readonly child: ChildProcess
  readonly dataDir: string
}

const startEpochServer = async (): Promise<EpochServer> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weft-epoch-'))
  const args = [
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data',
    join(dataDir, 'store'),
    '--epoch-reset',
  ]
  args.push('--epoch-reset-min-deleted', '50', '--epoch-reset-ratio', '1', '--epoch-reset-interval-ms', '0')
  const child = spawn(join(repo, 'signaling/bin/weft.js'), args, {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WEFT_LOG_LEVEL: 'info' },
  })
  child.stderr?.resume()
  let onSwitch = (): void => {}
  const switched = new Promise<void>((resolve) => (onSwitch = resolve))
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: { msg?: string; port?: number }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        return // not a log line
      }
      if (entry.msg === 'listening' && typeof entry.port === 'number') resolve(entry.port)
      if (entry.msg === 'switched epoch') onSwitch()
    })
    child.once('exit', (code) => reject(new Error(`weft serve exited (${code})`)))
  })
  return { port, switched, child, dataDir }
}

let server: EpochServer
beforeAll(async () => {
  server = await startEpochServer()
})
afterAll(async () => {
  if (!server) return
  server.child.kill('SIGTERM')
  await exited(server.child)
  await rm(server.dataDir, { recursive: true, force: true })
})

/** Resolves once `check()` holds, checked after each status or list change of `ws`. */
const until = (ws: Workspace, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      ws.off('status', test)
      ws.list.off('change', test)
      resolve()
    }
    ws.on('status', test)
    ws.list.on('change', test)
    test()
  })

const workspace = (concurrency?: number) => {
  const store = new MemoryDocStore()
  const relay = relaySocket(server.port, store)
  return openWorkspace({ id: 'team', store, relay, concurrency })
}

describe('background sync across a relay epoch reset', () => {
  // Without WS-CLIENT-4.7 the brief sync of x holds the only slot until the stall give-up (WS-PEER-7, 30 s): y is not
  // pushed before it.
  it('WS-CLIENT-4.7: a document whose epoch the relay reset while it was edited offline does not hold a slot; its edit and a second document reach a fresh device', async () => {
    const a = await workspace(1)
    const b = await workspace()
    expect(a.create({ id: 'x' }).ok).toBe(true)
    const ax = await a.open('x')
    ax.doc.getText('t').insert(0, 'base;')
    await ax.whenSaved()
    await a.close('x')
    await until(b, () => b.list.get('x') !== undefined)

    // A edits x, then y, offline: x comes first in the queue of pushes.
    a.disconnect()
    const ax2 = await a.open('x')
    ax2.doc.getText('t').insert(0, 'A-OFFLINE;')
    await ax2.handle.flushed()
    await a.close('x')
    expect(a.create({ id: 'y' }).ok).toBe(true)
    const ay = await a.open('y')
    ay.doc.getText('t').insert(0, 'Y-OFFLINE;')
    await ay.handle.flushed()
    await a.close('y')
    await a.flushed()

    // B piles up deleted content in x until the relay resets x's epoch.
    const bx = await b.open('x')
    await bx.whenSynced
    const bt = bx.doc.getText('t')
    let switched = false
    void server.switched.then(() => (switched = true))
    for (let i = 0; !switched && i < 5000; i++) {
      bx.doc.transact(() => {
        bt.insert(bt.length, 'yyyyyyyyyy')
        bt.delete(bt.length - 10, 10)
      })
      if (i % 20 === 19) await Promise.race([bx.whenSaved(), server.switched])
    }
    await server.switched
    await b.close('x')

    // A comes back: both documents are pushed (x after it took the new epoch at its next open, COMPACT-8.2).
    a.connect()
    // Before the stall give-up (WS-PEER-7) could free the slot: without WS-CLIENT-4.7 only that would.
    let stallTimer: ReturnType<typeof setTimeout> | undefined
    const beforeStall = await Promise.race([
      until(a, () => a.status === 'synced' && a.pendingChanges === 0).then(() => true),
      new Promise<boolean>((resolve) => (stallTimer = setTimeout(() => resolve(false), BRIEF_SYNC_STALL_MS))),
    ])
    clearTimeout(stallTimer)
    expect(beforeStall).toBe(true)
    expect(a.loaded).toEqual([])

    const c = await workspace()
    await until(c, () => c.list.get('x') !== undefined && c.list.get('y') !== undefined)
    const cy = await c.open('y')
    await cy.whenSynced
    expect(cy.doc.getText('t').toString()).toBe('Y-OFFLINE;')
    // A fresh device opens x in its first epoch and may be offered the new one (COMPACT-8.1): it reopens x to take it.
    let cx = await c.open('x')
    const offered = new Promise<boolean>((resolve) => cx.once('epoch-available', () => resolve(true)))
    if (cx.waitingEpoch !== null || (await Promise.race([cx.whenSynced.then(() => false), offered]))) {
      await c.close('x')
      cx = await c.open('x')
      await cx.whenSynced
    }
    expect(cx.doc.getText('t').toString()).toBe('A-OFFLINE;base;')
    await Promise.all([a.destroy(), b.destroy(), c.destroy()])
  }, 90_000)
})

describe('brief syncs and waiting epochs (unit)', () => {
  /** A document as a brief sync sees it, with a waiting epoch the test sets. */
  class FakeDoc extends ObservableV2<{
    status: () => void
    'connection-error': () => void
    'epoch-available': () => void
  }> {
    readonly doc = new Y.Doc()
    readonly handle = { flushed: async () => {} }
    status = 'syncing'
    waitingEpoch: object | null = null
    constructor(waiting: boolean) {
      super()
      if (waiting) this.waitingEpoch = {}
    }
  }
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
  const setup = (waitingAtOpen: (d: string) => boolean) => {
    const delays: number[] = []
    const docs: Array<[string, FakeDoc]> = []
    const settled: Array<[string, string]> = []
    const sync = new BackgroundSync(
      {
        concurrency: 1,
        runnable: () => true,
        acquire: async (d) => {
          const doc = new FakeDoc(waitingAtOpen(d))
          docs.push([d, doc])
          return doc as unknown as WeftDoc
        },
        release: async () => {},
        refused: () => false,
        sizeOf: () => 1,
        settled: (d, outcome) => void settled.push([d, outcome]),
        failed: (_d, err) => {
          throw err
        },
        changed: () => {},
        progressed: () => {},
      },
      { timer: { set: (_fn, ms) => void delays.push(ms), clear: () => {} } },
    )
    return { sync, docs, settled, delays }
  }

  it('WS-CLIENT-4.7: an epoch offered during a brief sync ends it; the other document gets the slot, then the document is opened anew', async () => {
    const { sync, docs, settled } = setup(() => false)
    sync.enqueue('x')
    sync.enqueue('y')
    await turn()
    const [, x] = docs[0]!
    x.waitingEpoch = {}
    x.emit('epoch-available', [])
    await turn()
    expect(settled).toEqual([['x', 'aborted']])
    expect(docs.map(([d]) => d)).toEqual(['x', 'y']) // y runs before x again
    const [, y] = docs[1]!
    y.status = 'synced'
    y.emit('status', [])
    await turn()
    expect(docs.map(([d]) => d)).toEqual(['x', 'y', 'x']) // x opened anew (its open takes the epoch)
    const [, x2] = docs[2]!
    x2.status = 'synced'
    x2.emit('status', [])
    await turn()
    expect(settled).toEqual([
      ['x', 'aborted'],
      ['y', 'synced'],
      ['x', 'synced'],
    ])
    expect(sync.progress.docsDone).toBe(2)
  })

  it('WS-CLIENT-4.7: an epoch already waiting when the brief sync starts (the app holds the document) backs off instead of spinning', async () => {
    const { sync, docs, settled, delays } = setup((d) => d === 'x')
    sync.enqueue('x')
    sync.enqueue('y')
    await turn()
    await turn()
    expect(settled[0]).toEqual(['x', 'aborted'])
    expect(docs.filter(([d]) => d === 'x')).toHaveLength(1) // not opened again at once
    expect(delays).toContain(1_000) // the WS-PEER-7 backoff
    expect(sync.has('x')).toBe(true)
  })
})
