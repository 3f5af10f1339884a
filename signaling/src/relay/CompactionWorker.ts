import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker, threadId } from 'node:worker_threads'
import {
  collectWithCounts,
  SwitchTasks,
  type Collected,
  type SwitchLate,
  type SwitchPlan,
  type SwitchStart,
} from './compactionTasks.js'
import { screenStoredParts } from './quarantine.js'

/** A request to the compaction worker. */
export type CompactionRequest =
  | { readonly id: number; readonly op: 'collect'; readonly parts: readonly Uint8Array[] }
  | {
      readonly id: number
      readonly op: 'switch-start'
      readonly session: number
      readonly parts: readonly Uint8Array[]
      readonly plan: SwitchPlan
    }
  | {
      readonly id: number
      readonly op: 'switch-late'
      readonly session: number
      readonly updates: Uint8Array[]
    }
  | { readonly id: number; readonly op: 'switch-end'; readonly session: number }
  | {
      readonly id: number
      readonly op: 'screen'
      readonly snapshot: Uint8Array | null
      readonly updates: readonly Uint8Array[]
    }

/** The worker's answer: the result (or the error's message) and the thread that computed it. */
export interface CompactionReply {
  readonly id: number
  readonly threadId: number
  readonly result?: unknown
  readonly error?: string
  /** Buffers of `result` moved to the receiver (not part of the message). */
  readonly transfer?: ArrayBuffer[]
}

const buffersOf = (value: unknown): ArrayBuffer[] => {
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap((v) =>
    v instanceof Uint8Array &&
    v.buffer instanceof ArrayBuffer &&
    v.byteOffset === 0 &&
    v.byteLength === v.buffer.byteLength
      ? [v.buffer]
      : [],
  )
}

/** Runs requests: in the worker thread, and inline (same code) for small documents. */
export class CompactionTasks {
  readonly #switches = new SwitchTasks()

  handle(request: CompactionRequest, thread: number): CompactionReply {
    try {
      const result = this.#run(request)
      const transfer = buffersOf(result)
      return { id: request.id, threadId: thread, result, transfer }
    } catch (err) {
      return { id: request.id, threadId: thread, error: err instanceof Error ? err.message : String(err) }
    }
  }

  #run(request: CompactionRequest): unknown {
    switch (request.op) {
      case 'collect':
        return collectWithCounts(request.parts)
      case 'switch-start':
        return this.#switches.start(request.session, request.parts, request.plan)
      case 'switch-late':
        return this.#switches.late(request.session, request.updates)
      case 'switch-end':
        return this.#switches.end(request.session)
      case 'screen':
        return screenStoredParts(request.snapshot, request.updates)
    }
  }
}

/** Options of {@link CompactionWorker}. */
export interface CompactionWorkerOptions {
  /** An idle worker thread is stopped after this long (default 30 s); the next large task starts one again. */
  readonly idleMs?: number
}

/** What a task that ran reports besides its result. */
export interface Ran<T> {
  readonly result: T
  /** The thread it ran in (`threadId` of `node:worker_threads`; the main thread's is 0). */
  readonly threadId: number
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never

/**
 * The relay's compaction worker (RELAY-3.8): one `worker_threads` thread per process, started on the first large
 * task and stopped when idle, that rebuilds states (`collect`), screens stored documents being loaded (`screen`,
 * RELAY-3.11) and computes epoch switches (`switch-*`) from bytes
 * copied to it and transferred back, so a large document's compaction never blocks the event loop that serves every
 * other room. Small tasks run inline (`inline: true`): a thread hop costs more than they do. Should the thread
 * fail (it cannot start, or dies), pending tasks reject and the next one starts a new thread.
 */
export class CompactionWorker {
  static #shared: CompactionWorker | null = null

  /** The process-wide worker every relay shares. */
  static shared(): CompactionWorker {
    return (CompactionWorker.#shared ??= new CompactionWorker())
  }

  readonly #idleMs: number
  readonly #inline = new CompactionTasks()
  #worker: Worker | null = null
  #nextId = 1
  #nextSession = 1
  readonly #pending = new Map<
    number,
    { resolve: (reply: CompactionReply) => void; reject: (err: Error) => void }
  >()
  #idleTimer: NodeJS.Timeout | null = null
  /** Tasks run in the worker thread so far (diagnostics and tests). */
  threadTasks = 0

  constructor(options: CompactionWorkerOptions = {}) {
    this.#idleMs = options.idleMs ?? 30_000
  }

  /** A new switch session id (the switch's documents live in one executor between `switch-start` and `switch-end`). */
  session(): number {
    return this.#nextSession++
  }

  /** Runs one request synchronously in this thread (a small document's). Throws what the task threw. */
  runInline<T>(request: Distribute<CompactionRequest>): Ran<T> {
    return unwrap<T>(this.#inline.handle({ ...request, id: this.#nextId++ } as CompactionRequest, threadId))
  }

  /**
   * Runs one request, in the worker thread or (with `inline`) synchronously in this one. The parts given are copied
   * before they are transferred: the caller's buffers stay usable.
   */
  async run<T>(request: Distribute<CompactionRequest>, inline: boolean): Promise<Ran<T>> {
    if (inline) return this.runInline<T>(request)
    const full = { ...request, id: this.#nextId++ } as CompactionRequest
    const copied = copyInputs(full)
    const reply = await new Promise<CompactionReply>((resolve, reject) => {
      this.#pending.set(full.id, { resolve, reject })
      try {
        this.#thread().postMessage(copied.request, copied.transfer)
      } catch (err) {
        this.#pending.delete(full.id)
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
    this.threadTasks++
    return unwrap<T>(reply)
  }

  /** Stops the thread (pending tasks reject). The worker starts again on the next task. */
  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#failAll(new Error('compaction worker closed'))
    await worker?.terminate()
  }

  #thread(): Worker {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    if (this.#worker) return this.#worker
    const worker = spawn()
    worker.unref()
    worker.on('message', (reply: CompactionReply) => {
      const waiter = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      waiter?.resolve(reply)
      if (this.#pending.size === 0) this.#scheduleIdle(worker)
    })
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = null
      this.#failAll(err)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`compaction worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  #scheduleIdle(worker: Worker): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      if (this.#worker !== worker || this.#pending.size > 0) return
      this.#worker = null
      void worker.terminate()
    }, this.#idleMs)
    this.#idleTimer.unref()
  }

  #failAll(err: Error): void {
    const waiting = [...this.#pending.values()]
    this.#pending.clear()
    for (const w of waiting) w.reject(err)
  }
}

const unwrap = <T>(reply: CompactionReply): Ran<T> => {
  if (reply.error !== undefined) throw new Error(reply.error)
  return { result: reply.result as T, threadId: reply.threadId }
}

/** Copies of the request's byte arrays, to transfer (the originals belong to the relay's log). */
const copyInputs = (request: CompactionRequest): { request: CompactionRequest; transfer: ArrayBuffer[] } => {
  const transfer: ArrayBuffer[] = []
  const copy = (bytes: Uint8Array): Uint8Array => {
    const c = bytes.slice()
    transfer.push(c.buffer)
    return c
  }
  switch (request.op) {
    case 'collect':
      return { request: { ...request, parts: request.parts.map(copy) }, transfer }
    case 'switch-start':
      return { request: { ...request, parts: request.parts.map(copy) }, transfer }
    case 'switch-late':
      return { request: { ...request, updates: request.updates.map(copy) }, transfer }
    case 'switch-end':
      return { request, transfer }
    case 'screen':
      return {
        request: {
          ...request,
          snapshot: request.snapshot && copy(request.snapshot),
          updates: request.updates.map(copy),
        },
        transfer,
      }
  }
}

/**
 * Starts the worker thread: the compiled `compactionWorkerMain.js` next to this module, or, when running from the
 * TypeScript sources (tests, `weft` without a build), the `.ts` entry through tsx with the `source` condition.
 */
const spawn = (): Worker => {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./compactionWorkerMain.js', import.meta.url))
  const require = createRequire(import.meta.url)
  const tsxApi = new URL('api/index.mjs', pathToFileURL(require.resolve('tsx/esm'))).href
  const condition = new URL('../../bin/source-condition.js', import.meta.url).href
  const entry = new URL('./compactionWorkerMain.ts', import.meta.url).href
  const boot = [
    `import { register } from 'node:module'`,
    `register(${JSON.stringify(condition)})`,
    `const api = await import(${JSON.stringify(tsxApi)})`,
    `api.register()`,
    `await import(${JSON.stringify(entry)})`,
  ].join('\n')
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`))
}

export type { Collected, SwitchLate, SwitchPlan, SwitchStart }
