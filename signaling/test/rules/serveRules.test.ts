import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'

const RULES = fileURLToPath(new URL('./boardRulesModule.mjs', import.meta.url))
const procs: WeftProcess[] = []
const clients: StockClient[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await p.exited
  }
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('weft serve --rules as a child process', { timeout: 30_000 }, () => {
  it('RULES-4.3: a stock y-websocket client whose update breaks a rule is closed with UpdateRejected (4405)', async () => {
    const data = await mkdtemp(join(tmpdir(), 'weft-rules-'))
    dirs.push(data)
    const p = spawnWeft(['serve', '--port', '0', '--data', data, '--rules', RULES])
    procs.push(p)
    const port = await listening(p)
    const c = stockClient(`ws://127.0.0.1:${port}/relay`, 'board-1')
    clients.push(c)
    await c.synced()
    const closed = new Promise<number>((resolve) =>
      c.provider.on('connection-close', (event) => resolve(event?.code ?? 0)),
    )
    const shape = new Y.Map<unknown>()
    shape.set('name', 'a')
    shape.set('x', 500)
    shape.set('author', 'alice')
    shape.set('label', new Y.Text())
    c.doc.getMap('shapes').set('a', shape)
    expect(await closed).toBe(CloseCode.UpdateRejected)
  })
})
