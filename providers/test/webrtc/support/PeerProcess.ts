import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChildMessage, Command } from './ipc.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./peerChild.ts', import.meta.url))

type EventListener = (gen: number, event: string, payload: Record<string, unknown>) => void

/**
 * A peer child process (see peerChild.ts), driven over IPC. Commands resolve with the child's reply; events of the
 * child's transport or provider go to the listeners; faults (uncaught errors in the child) are collected so a test
 * can assert there were none.
 */
export class PeerProcess {
  readonly child: ChildProcess
  readonly faults: string[] = []
  /** Exit code or signal once the child is gone. */
  exitStatus: number | string | null = null
  readonly exited: Promise<void>
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly #listeners = new Set<EventListener>()
  #nextId = 0
  #killed = false

  readonly mode: string

  private constructor(child: ChildProcess, mode: string) {
    this.child = child
    this.mode = mode
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitStatus = signal ?? code
        resolve()
      }),
    )
    child.on('message', (raw) => {
      const m = raw as ChildMessage
      if (m.kind === 'reply') {
        const p = this.#pending.get(m.id)
        this.#pending.delete(m.id)
        if (m.ok) p?.resolve(m.value)
        else p?.reject(new Error(m.error))
      } else if (m.kind === 'event') {
        for (const l of [...this.#listeners]) l(m.gen, m.event, m.payload)
      } else if (m.kind === 'fault') {
        this.faults.push(m.error)
      }
    })
    void this.exited.then(() => {
      for (const p of this.#pending.values())
        p.reject(new Error(`${mode} peer process exited (${this.exitStatus})`))
      this.#pending.clear()
    })
  }

  /** Starts a child in `mode` and resolves once it is ready for commands. */
  static async spawn(mode: 'weft' | 'stock'): Promise<PeerProcess> {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CHILD, mode], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    })
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m) =>
        (m as ChildMessage).kind === 'ready' ? resolve() : reject(new Error('bad start')),
      )
      child.once('exit', (code) => reject(new Error(`peer process exited with ${code}`)))
    })
    return new PeerProcess(child, mode)
  }

  /** Sends a command and resolves with the child's reply. */
  request(command: Command): Promise<unknown> {
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`${this.mode} peer process exited (${this.exitStatus})`))
        return
      }
      this.#pending.set(id, { resolve, reject })
      this.child.send({ ...command, id }, (err) => {
        if (err === null) return
        this.#pending.delete(id)
        reject(err)
      })
    })
  }

  /** Sends a command without waiting for the reply (errors are recorded as faults). */
  post(command: Command): void {
    this.request(command).catch((err: unknown) => {
      if (!this.#killed) this.faults.push(String(err))
    })
  }

  /** Subscribes to the child's events; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves with the payload of the first event `name` of generation `gen` that satisfies `match`. */
  nextEvent(
    gen: number,
    name: string,
    match: (p: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      const off = this.onEvent((g, event, payload) => {
        if (g !== gen || event !== name || !match(payload)) return
        off()
        resolve(payload)
      })
    })
  }

  /** Kills the child at once (a peer that disappears) and waits for it to be gone. */
  async kill(): Promise<void> {
    this.#killed = true
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }
}
