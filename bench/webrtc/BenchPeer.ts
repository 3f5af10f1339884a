/**
 * The benchmark's handle on one peer process (peerMain.ts): commands over IPC, `seen` reports as a stream. The
 * child exits when the IPC channel closes, so no peer outlives the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { PeerCommand, PeerMessage, PeerSystem } from './protocol.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * An edit made or seen: when (ns, the monotonic clock shared by the processes), the text length after it, and
 * `mark`: for an edit made, when its message was handed to the data channel; for an edit seen, when the message
 * arrived from native code.
 */
export interface Seen {
  readonly at: bigint
  readonly mark: bigint
  readonly length: number
}

/** One peer process. */
export class BenchPeer {
  readonly system: PeerSystem
  readonly child: ChildProcess
  readonly faults: string[] = []
  readonly #replies = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly #seen: Seen[] = []
  #waiter: (() => void) | null = null
  #nextId = 0
  readonly #exited: Promise<void>

  private constructor(system: PeerSystem, child: ChildProcess) {
    this.system = system
    this.child = child
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.on('message', (raw) => {
      const m = raw as PeerMessage
      if (m.kind === 'reply' || m.kind === 'failed') {
        const r = this.#replies.get(m.id)
        this.#replies.delete(m.id)
        if (m.kind === 'reply') r?.resolve(m.value)
        else r?.reject(new Error(`${system}: ${m.error}`))
      } else if (m.kind === 'seen') {
        this.#seen.push({ at: BigInt(m.at), mark: BigInt(m.arrived), length: m.length })
        this.#waiter?.()
      } else if (m.kind === 'fault') {
        this.faults.push(m.error)
      }
    })
    void this.#exited.then(() => {
      for (const r of this.#replies.values()) r.reject(new Error(`${system} peer process exited`))
      this.#replies.clear()
      this.#waiter?.()
    })
  }

  /** Starts a peer process and resolves once it is ready for commands. */
  static async start(system: PeerSystem): Promise<BenchPeer> {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'bench/webrtc/peerMain.ts', system],
      {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, NO_COLOR: '1', NODE_OPTIONS: '' },
      },
    )
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m) =>
        (m as PeerMessage).kind === 'ready' ? resolve() : reject(new Error('bad start')),
      )
      child.once('exit', (code) => reject(new Error(`${system} peer process exited with ${code}`)))
    })
    return new BenchPeer(system, child)
  }

  /** Sends a command; resolves with the reply. */
  request(command: PeerCommand): Promise<unknown> {
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error(`${this.system} peer process is gone`))
      this.#replies.set(id, { resolve, reject })
      this.child.send({ ...command, id })
    })
  }

  /** Appends `text` at this peer; resolves with the clock reading taken just before the edit and the new length. */
  async edit(text: string): Promise<Seen> {
    const r = (await this.request({ cmd: 'edit', text })) as { at: string; sent: string; length: number }
    return { at: BigInt(r.at), mark: BigInt(r.sent), length: r.length }
  }

  /**
   * Resolves with the report of the remote edit after which the text has `length` characters (earlier reports
   * are discarded). Rejects after `timeoutMs` (a benchmark must not hang).
   */
  async seen(length: number, timeoutMs = 30_000): Promise<Seen> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.#seen.findIndex((s) => s.length >= length)
      if (i >= 0) {
        const found = this.#seen[i] as Seen
        this.#seen.splice(0, i + 1)
        if (found.length !== length) throw new Error(`${this.system}: edits merged (${found.length})`)
        return found
      }
      if (!this.child.connected) throw new Error(`${this.system} peer process is gone`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.system}: edit to length ${length} not seen in ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiter = () => {
          clearTimeout(timer)
          this.#waiter = null
          resolve()
        }
      })
    }
  }

  /** Kills the process (a benchmark peer has nothing to save) and waits for it to be gone. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.#exited
  }
}
