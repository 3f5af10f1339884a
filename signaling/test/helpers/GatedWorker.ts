import { CompactionWorker, type CompactionRequest, type Ran } from '../../src/relay/CompactionWorker.js'
import { deferred } from './GatedStore.js'

type Request = Parameters<CompactionWorker['run']>[0]

/** A worker whose next task of one kind waits for `release()` once armed, and which records each task's thread. */
export class GatedWorker extends CompactionWorker {
  readonly threads: Array<{ op: CompactionRequest['op']; threadId: number }> = []
  #gate: { op: CompactionRequest['op']; entered: () => void; release: Promise<void> } | null = null

  arm(op: CompactionRequest['op']): { entered: Promise<void>; release: () => void } {
    const entered = deferred()
    const release = deferred()
    this.#gate = { op, entered: entered.resolve, release: release.promise }
    return { entered: entered.promise, release: release.resolve }
  }

  override async run<T>(request: Request, inline: boolean): Promise<Ran<T>> {
    const gate = this.#gate
    if (gate && request.op === gate.op) {
      this.#gate = null
      gate.entered()
      await gate.release
    }
    const ran = await super.run<T>(request, inline)
    this.threads.push({ op: request.op, threadId: ran.threadId })
    for (const w of this.#waiters.filter((x) => x.op === request.op)) w.resolve()
    this.#waiters = this.#waiters.filter((x) => x.op !== request.op)
    return ran
  }

  #waiters: Array<{ op: CompactionRequest['op']; resolve: () => void }> = []

  /** Resolves once a task `op` completed (now or earlier). */
  completed(op: CompactionRequest['op']): Promise<void> {
    if (this.threads.some((t) => t.op === op)) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ op, resolve }))
  }
}
