import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { BridgeCommand, BridgeMessage, BridgePeerOptions } from './bridgeIpc.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const MAIN = fileURLToPath(new URL('./bridgePeerMain.ts', import.meta.url))

/**
 * One peer of the bridge test in its own Node process (bridgePeerMain.ts): `openDoc()` over WebRTC, the relay or
 * both. Commands resolve with the peer's reply; uncaught errors in the peer are collected in `faults`, and the
 * errors its document reported in `errors`.
 */
export class BridgePeer {
  readonly name: string
  readonly child: ChildProcess
  readonly faults: string[] = []
  readonly errors: string[] = []
  readonly exited: Promise<void>
  readonly #replies = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  #nextId = 0

  private constructor(name: string, child: ChildProcess) {
    this.name = name
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.on('message', (raw) => {
      const m = raw as BridgeMessage
      if (m.kind === 'reply') {
        const r = this.#replies.get(m.id)
        this.#replies.delete(m.id)
        if (m.ok) r?.resolve(m.value)
        else r?.reject(new Error(`${name}: ${m.error}`))
      } else if (m.kind === 'event') {
        this.errors.push(m.detail)
      } else if (m.kind === 'fault') {
        this.faults.push(m.error)
      }
    })
    void this.exited.then(() => {
      for (const r of this.#replies.values()) r.reject(new Error(`${name}: peer process exited`))
      this.#replies.clear()
    })
  }

  /** Starts a peer process and opens its document with `options`. */
  static async open(options: BridgePeerOptions): Promise<BridgePeer> {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m) =>
        (m as BridgeMessage).kind === 'ready' ? resolve() : reject(new Error('bad start')),
      )
      child.once('exit', (code) => reject(new Error(`${options.name}: peer process exited with ${code}`)))
    })
    const peer = new BridgePeer(options.name, child)
    await peer.request({ cmd: 'open', options })
    return peer
  }

  /** Sends a command; resolves with the peer's reply. */
  request(command: BridgeCommand): Promise<unknown> {
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error(`${this.name}: peer process is gone`))
      this.#replies.set(id, { resolve, reject })
      this.child.send({ ...command, id })
    })
  }

  /** Resolves with the whole text once it contains `includes`. */
  async waitText(includes: string): Promise<string> {
    return (await this.request({ cmd: 'wait-text', includes })) as string
  }

  /** Resolves with the other names present once every `present` name is and no `absent` name is. */
  async waitPresence(present: readonly string[], absent: readonly string[] = []): Promise<string[]> {
    return (await this.request({ cmd: 'wait-presence', present, absent })) as string[]
  }

  /** Resolves with the kinds of its paths once `count` of them are synced. */
  async waitPaths(count: number): Promise<string[]> {
    return (await this.request({ cmd: 'wait-paths', count })) as string[]
  }

  /** Kills the process at once (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }
}
