import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeSyncStep1 } from '@weft/core/protocol'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

const procs: WeftProcess[] = []
const dirs: string[] = []
const stock: StockClient[] = []
const weftClients: WeftTestClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(weftClients.splice(0).map((c) => c.client.close()))
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await p.exited
  }
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'weft-cli-'))
  dirs.push(d)
  return d
}
const serve = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const p = spawnWeft(['serve', '--port', '0', ...args], env)
  procs.push(p)
  return { p, port: await listening(p) }
}

describe('weft serve as a child process', { timeout: 30_000 }, () => {
  it('CLI-1: starts on port 0, says first that auth is open, and answers /healthz', async () => {
    const { p, port } = await serve(['--data', await tempDir()])
    expect(p.logs[0]?.['auth']).toBe('open')
    expect(String(p.logs[0]?.['msg'])).toMatch(/auth is OPEN/)
    const res = await fetch(`http://127.0.0.1:${port}/healthz`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { status: string }).status).toBe('ok')
  })

  it('CLI-1.1: run as `npx weft` runs it, Node starts with the young generation capped', async () => {
    const { p } = await serve(['--no-relay'])
    const line = p.logs.find((l) => l['msg'] === 'listening')
    expect(line?.['nodeFlags']).toContain('--max-semi-space-size=2')
  })

  it('CLI-2: environment variables configure the server; --help exits 0', async () => {
    const { p } = await serve([], {
      WEFT_DATA: await tempDir(),
      WEFT_AUTH_SECRET: 'a-test-secret-that-is-at-least-32-bytes-long',
    })
    expect(p.logs[0]?.['auth']).toBe('secret')
    const help = spawnWeft(['serve', '--help'])
    expect(await help.exited).toBe(0)
    const bad = spawnWeft(['serve', '--port', 'many'])
    expect(await bad.exited).toBe(1)
  })

  it('CLI-1.2: a data directory whose store is damaged: the reason is logged and weft serve exits 1, never listening', async () => {
    const data = await tempDir()
    await writeFile(join(data, 'weft.sqlite'), Buffer.alloc(20_000, 0x5a))
    const p = spawnWeft(['serve', '--port', '0', '--data', data])
    procs.push(p)
    expect(await p.exited).toBe(1)
    expect(p.logs.some((l) => l['msg'] === 'listening')).toBe(false)
    await p.closed
    // The reason is said once, not "file is not a database (file is not a database)".
    expect(p.stderr().match(/file is not a database/g)).toHaveLength(1)
  })

  it('CLI-1.3: a --static directory that does not exist: weft serve says so and exits 1, never listening', async () => {
    const missing = join(await tempDir(), 'no-such-dir')
    const p = spawnWeft(['serve', '--port', '0', '--no-relay', '--static', missing])
    procs.push(p)
    expect(await p.exited).toBe(1)
    expect(p.logs.some((l) => l['msg'] === 'listening')).toBe(false)
    await p.closed
    expect(p.stderr()).toBe(
      `weft serve: the static directory ${JSON.stringify(missing)} does not exist or is not a directory\n`,
    )
  })

  it('CLI-5: weft --version and -v print the package version and exit 0', async () => {
    const { version } = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string }
    for (const flag of ['--version', '-v']) {
      const p = spawnWeft([flag])
      procs.push(p)
      expect(await p.exited).toBe(0)
      await p.closed
      expect(p.logs).toEqual([{ text: version }])
    }
  })

  it('CLI-1.2, STORE-6.3: a second weft serve on the same data directory exits 1; after the first is killed (-9) it starts', async () => {
    const data = await tempDir()
    const first = await serve(['--data', data])
    const second = spawnWeft(['serve', '--port', '0', '--data', data])
    procs.push(second)
    expect(await second.exited).toBe(1)
    expect(second.logs.some((l) => l['msg'] === 'listening')).toBe(false)
    first.p.child.kill('SIGKILL')
    await first.p.exited
    await serve(['--data', data])
  })

  it('CLI-3: SIGTERM flushes accepted updates before exiting', async () => {
    const data = await tempDir()
    // A long commit window: the update is certainly still queued when the signal arrives.
    const { p, port } = await serve(['--data', data, '--commit-window-ms', '30000'])
    const w = await WeftTestClient.open(`ws://127.0.0.1:${port}/relay/graceful`)
    weftClients.push(w)
    await w.next('sync-step2')
    const src = new Y.Doc()
    src.getText('t').insert(0, 'flushed on shutdown')
    w.sendUpdate(Y.encodeStateAsUpdate(src))
    // A round trip on the same socket: the relay has accepted the update.
    w.client.send(encodeSyncStep1(Y.encodeStateVector(w.doc)))
    await w.next('sync-step2')
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
    expect((await w.client.closed).code).toBe(4000)

    const again = await serve(['--data', data])
    const b = stockClient(`ws://127.0.0.1:${again.port}/relay`, 'graceful')
    stock.push(b)
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe('flushed on shutdown')
  })

  it('CLI-3.1: SIGTERM still shuts down once nobody reads the log any more (its pipes are closed)', async () => {
    const { p, port } = await serve(['--data', await tempDir()])
    // A round trip first: `listening` is logged just before the signal handlers are installed.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    // The reader of its log goes away, as when the terminal or the supervisor that read it is gone.
    const closed = [p.child.stdout, p.child.stderr].map((s) => s && once(s, 'close'))
    p.child.stdout?.destroy()
    p.child.stderr?.destroy()
    await Promise.all(closed)
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })

  it('RELAY-3.3: after kill -9 and a restart, every acknowledged update is still there', async () => {
    const data = await tempDir()
    const { p, port } = await serve(['--data', data, '--commit-window-ms', '20'])
    const w = await WeftTestClient.open(`ws://127.0.0.1:${port}/relay/crash`)
    weftClients.push(w)
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    const text = src.getText('t')
    let last = 0
    for (let i = 0; i < 200; i++) {
      text.insert(text.length, `${i},`)
      last = w.sendUpdate(updates[i] as Uint8Array)
      if (i % 50 === 49) await w.ackAtLeast(last)
    }
    p.child.kill('SIGKILL')
    expect(await p.exited).toBe('SIGKILL')

    const again = await serve(['--data', data])
    const b = stockClient(`ws://127.0.0.1:${again.port}/relay`, 'crash')
    stock.push(b)
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe(text.toString())
  })
})
