import Database from 'better-sqlite3'

/**
 * An exclusive lock held by this process on `<path>.lock` for as long as it is open (STORE-6.3): an SQLite
 * `BEGIN EXCLUSIVE` transaction on a file of its own, never committed. The operating system drops it when the
 * process ends, however it ends (kill -9 included), so it never goes stale; a second holder, in this process or
 * another, is refused at once. Readers of the store itself are not affected. @internal
 */
export class ProcessLock {
  readonly #db: Database.Database

  /** Takes the lock on `<path>.lock`; throws (better-sqlite3's `SQLITE_BUSY`) when someone holds it. */
  constructor(path: string) {
    const db = new Database(`${path}.lock`, { timeout: 0 })
    try {
      db.exec('BEGIN EXCLUSIVE')
    } catch (err) {
      db.close()
      throw err
    }
    this.#db = db
  }

  /** Releases the lock. */
  release(): void {
    if (!this.#db.open) return
    this.#db.exec('ROLLBACK')
    this.#db.close()
  }
}
