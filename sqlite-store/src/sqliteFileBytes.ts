import { statSync } from 'node:fs'

/**
 * Bytes a SQLite database takes on disk: the file at `path` plus its write-ahead log (`-wal`) and shared-memory index
 * (`-shm`) when present. Close the store first for a settled figure (closing checkpoints the log into the file).
 * 0 when nothing exists at `path`.
 */
export const sqliteFileBytes = (path: string): number => {
  let n = 0
  for (const ext of ['', '-wal', '-shm']) {
    try {
      n += statSync(path + ext).size
    } catch {
      // absent
    }
  }
  return n
}
