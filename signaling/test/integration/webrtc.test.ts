import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { REPO_ROOT, listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'

const PEER = fileURLToPath(new URL('../fixtures/webrtcPeer.mjs', import.meta.url))
let srv: WeftProcess | null = null

afterEach(async () => {
  srv?.child.kill('SIGTERM')
  await srv?.exited
  srv = null
})

/** Spawns one y-webrtc peer process; resolves `synced` when it printed it. */
const peer = (url: string, room: string, me: string, other: string) => {
  const child = spawn(process.execPath, [PEER, url, room, me, other], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const synced = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      if (c.toString().includes('synced')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`peer ${me} exited with ${code}: ${err}`)))
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { child, synced, exited, stop: () => child.stdin.end() }
}

describe('stock y-webrtc 10.3 peers through /signal', { timeout: 30_000 }, () => {
  it('SIG-2.3: two Node WebRTC peers (one per process) find each other through `weft serve` and sync', async () => {
    srv = spawnWeft(['serve', '--port', '0', '--no-relay'])
    const port = await listening(srv)
    const url = `ws://127.0.0.1:${port}/signal`
    const a = peer(url, 'webrtc-room', 'alice', 'bob')
    const b = peer(url, 'webrtc-room', 'bob', 'alice')
    await Promise.all([a.synced, b.synced])
    a.stop()
    b.stop()
    expect(await a.exited).toBe(0)
    expect(await b.exited).toBe(0)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/^weft_connections_total\{endpoint="signal"\} 2$/m)
  })
})
