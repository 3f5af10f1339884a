/** What the browser storage bench's page exposes as `window.bench` (page.ts), called by Playwright. */

export type System = 'weft' | 'y-indexeddb'

/** `typing`: one Yjs transaction per task, writes drained every 100; `burst`: all in one task, then drained. */
export type Mode = 'typing' | 'burst'

export type Workload =
  { readonly kind: 'text' } | { readonly kind: 'whiteboard'; readonly keys: number; readonly rounds: number }

export interface WriteResult {
  /** From the first transaction until every write is committed. */
  readonly ms: number
  /** From the first transaction until the last one was made (burst: the synchronous part). */
  readonly issuedMs: number
  readonly transactions: number
  readonly contentSize: number
}

export interface OpenResult {
  /** From constructing the provider until the stored state is in the Y.Doc. */
  readonly ms: number
  readonly contentSize: number
  /** Stored bytes added by the open (no edit was made). */
  readonly grewBytes: number
}

export interface BenchApi {
  write(
    system: System,
    name: string,
    workload: Workload,
    mode: Mode,
    durability: 'strict' | 'relaxed',
  ): Promise<WriteResult>
  open(system: System, name: string, workload: Workload): Promise<OpenResult>
  storedBytes(name: string): Promise<{ bytes: number; rows: number }>
  /**
   * History compaction of a Weft database (`EpochManager.start`, as the epoch policy runs it), then a copy of the
   * same content as a fresh document in database `freshName` (item 3's baseline). Whiteboard only.
   */
  epochAndFresh(
    name: string,
    freshName: string,
  ): Promise<{ startMs: number; bytes: number; freshBytes: number }>
  /** `navigator.storage.estimate().usage` for the origin. */
  usage(): Promise<number>
}
