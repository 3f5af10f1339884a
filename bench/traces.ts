/**
 * Loads an editing trace from bench/data (committed with the repository, CC BY 4.0: see bench/data/README.md), or,
 * for a trace that is not there, makes a synthetic one (deterministic) and says so in its name.
 */
import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export type Patch = [position: number, deleteCount: number, inserted: string]
export interface Trace {
  readonly name: string
  readonly txns: ReadonlyArray<{ readonly patches: readonly Patch[] }>
  readonly endContent: string | null
}

/** Where the traces live: `bench/data/<name>.json.gz`. */
export const traceDir = join(dirname(fileURLToPath(import.meta.url)), 'data')

/** The file of the named trace (`bench/data/<name>.json.gz`), present or not. */
export const tracePath = (name: string): string => join(traceDir, `${name}.json.gz`)

/** The named trace (e.g. `automerge-paper`), cut to `limit` transactions, or a synthetic typing trace. */
export const loadTrace = (name: string, limit = Infinity): Trace => {
  const file = tracePath(name)
  if (existsSync(file)) {
    const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as {
      txns: Array<{ patches: Patch[] }>
      endContent: string
    }
    const all = limit >= raw.txns.length
    return {
      name: all ? name : `${name} (first ${limit} txns)`,
      txns: raw.txns.slice(0, limit),
      endContent: all ? raw.endContent : null,
    }
  }
  // Synthetic fallback: mostly appends with some back-edits and deletions.
  const txns: Array<{ patches: Patch[] }> = []
  let len = 0
  let x = 12345
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % Math.max(1, n))
  for (let i = 0; i < Math.min(limit, 50_000); i++) {
    if (len > 10 && rnd(10) === 0) {
      txns.push({ patches: [[rnd(len), 1, '']] })
      len--
    } else {
      const pos = rnd(5) === 0 ? rnd(len + 1) : len
      txns.push({ patches: [[pos, 0, String.fromCharCode(97 + rnd(26))]] })
      len++
    }
  }
  return {
    name: `synthetic typing (${txns.length} txns; bench/data/${name}.json.gz not found)`,
    txns,
    endContent: null,
  }
}
