import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import * as Y from 'yjs'
import { docId, WeftError, WeftErrorCode } from '@weft/core'
import { runDocStoreContract } from '@weft/core/testing'
import { LARGE_APPEND_BYTES, PostgresDocStore } from '../../src/scaleout/PostgresDocStore.js'
import { POSTGRES_SCHEMA_VERSION } from '../../src/scaleout/postgresSchema.js'
import { startPostgres, type PostgresService } from './startServices.js'

let service: PostgresService
let url = ''
beforeAll(async () => {
  service = await startPostgres()
  url = service.url
}, 30_000)
afterAll(async () => {
  await service?.stop()
})

let n = 0
const schemas = new WeakMap<PostgresDocStore, string>()
const open = (schema: string): PostgresDocStore => {
  const store = new PostgresDocStore({ connectionString: url, schema, maxConnections: 4 })
  schemas.set(store, schema)
  return store
}

// SCALE-1.1: the PostgreSQL store passes the DocStore contract, reopening included.
runDocStoreContract('PostgresDocStore', () => open(`contract_${n++}`), {
  workspaceIndex: true,
  reopen: async (store) => {
    await store.close()
    return open(schemas.get(store as PostgresDocStore) ?? '')
  },
})

describe('PostgresDocStore across nodes', () => {
  const A = docId('shared')

  it('SCALE-1.2: two stores on one database share gap-free, strictly increasing clocks', async () => {
    const schema = `nodes_${n++}`
    const [s1, s2] = [open(schema), open(schema)]
    const clocks = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? s1 : s2).append(A, Uint8Array.of(i))),
    )
    expect([...clocks].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
    const tail = await s2.readSince(A, 40)
    expect(tail.updates.map((u) => u.clock)).toEqual(Array.from({ length: 20 }, (_, i) => i + 41))
    expect(tail.clock).toBe(60)
    expect((await s1.lastClocks([A, docId('none')])).get(A)).toBe(60)
    await Promise.all([s1.close(), s2.close()])
  })

  it('SCALE-1.3: concurrent compactions by two nodes: one wins, the other is stale, nothing is lost', async () => {
    const schema = `compact_${n++}`
    const [s1, s2] = [open(schema), open(schema)]
    const doc = new Y.Doc()
    doc.on('update', (u: Uint8Array) => void s1.append(A, u))
    for (let i = 0; i < 50; i++) doc.getText('t').insert(0, `${i},`)
    await s1.append(A, new Uint8Array([0, 0]))
    const loaded = await s2.load(A)
    const state = Y.encodeStateAsUpdateV2(doc)
    const results = await Promise.all([
      s1.compact(A, state, loaded?.clock ?? 0),
      s2.compact(A, state, loaded?.clock ?? 0),
    ])
    expect(results.filter((r) => r.ok)).toHaveLength(1)
    expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'stale' }])
    // Another node that appended meanwhile keeps its update.
    const later = new Y.Doc()
    Y.applyUpdateV2(later, state)
    later.getText('t').insert(0, 'late,')
    const c = await s2.append(A, Y.encodeStateAsUpdate(later, Y.encodeStateVector(doc)))
    // A compaction from an older view is stale.
    expect(await s1.compact(A, state, (loaded?.clock ?? 0) - 1)).toEqual({ ok: false, reason: 'stale' })
    const since = await s1.readSince(A, 3)
    expect(since.snapshot).not.toBeNull()
    expect(since.updates.map((u) => u.clock)).toEqual([c])
    const check = new Y.Doc()
    Y.applyUpdateV2(check, since.snapshot ?? new Uint8Array())
    for (const u of since.updates) Y.applyUpdate(check, u.data)
    expect(check.getText('t').toString()).toBe(later.getText('t').toString())
    await Promise.all([s1.close(), s2.close()])
  })

  it('STORE-2.5, STORE-3.7: an epoch switch by one node and the epoch-checked appends of another never interleave', async () => {
    const schema = `epoch_${n++}`
    const [s1, s2] = [open(schema), open(schema)]
    const A = docId('a')
    await s1.append(A, new Uint8Array([1]), { epoch: '0' })
    const loaded = await s1.load(A)
    await s2.append(A, new Uint8Array([2]), { epoch: '0' })
    const switchTo = { exact: true, epoch: '0', meta: { epoch: 'e1' } }
    expect(await s1.compact(A, new Uint8Array([9]), loaded?.clock ?? 0, switchTo)).toEqual({
      ok: false,
      reason: 'stale',
    })
    // Many checked appends racing the switch: each is either before it (the switch is then stale) or refused.
    const through = (await s1.load(A))?.clock ?? 0
    const appends = Array.from({ length: 20 }, (_, i) =>
      s2.append(A, new Uint8Array([10 + i]), { epoch: '0' }).then(
        () => 'stored',
        (err: unknown) => (err instanceof WeftError ? err.code : 'other'),
      ),
    )
    const [result, ...outcomes] = await Promise.all([
      s1.compact(A, new Uint8Array([9]), through, switchTo),
      ...appends,
    ])
    const stored = await s2.load(A)
    if (result.ok) expect(outcomes.every((o) => o === WeftErrorCode.EpochMismatch)).toBe(true)
    else expect(outcomes.every((o) => o === 'stored')).toBe(true)
    expect(stored?.updates.length).toBe(result.ok ? 0 : 22)
    // Once switched, the old epoch's appends are refused and cost no clock.
    if (!result.ok) {
      const again = (await s1.load(A))?.clock ?? 0
      expect(await s1.compact(A, new Uint8Array([9]), again, switchTo)).toEqual({ ok: true })
    }
    const head = (await s2.load(A))?.clock ?? 0
    expect(await s2.append(A, new Uint8Array([3]), { epoch: '0' }).catch((e: WeftError) => e.code)).toBe(
      WeftErrorCode.EpochMismatch,
    )
    expect(await s2.append(A, new Uint8Array([4]), { epoch: 'e1' })).toBe(head + 1)
    await Promise.all([s1.close(), s2.close()])
  })

  it('STORE-6.2, SCALE-1.4: damaged rows are reported as store-corrupted; a newer schema is refused', async () => {
    const schema = `corrupt_${n++}`
    const store = open(schema)
    await store.append(A, Uint8Array.of(1))
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    await client.query(`UPDATE ${schema}.weft_updates SET clock = -5`)
    const err: unknown = await store.load(A).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WeftError)
    expect((err as WeftError).code).toBe(WeftErrorCode.StoreCorrupted)
    await client.query(`UPDATE ${schema}.weft_schema SET version = 99`)
    const newer = open(schema)
    const refused: unknown = await newer.list().catch((e: unknown) => e)
    expect((refused as WeftError).code).toBe(WeftErrorCode.StoreFailed)
    expect((refused as Error).message).toMatch(/schema version 99/)
    await client.end()
    await Promise.all([store.close(), newer.close()])
  })
})

describe("PostgresDocStore on the app's own pool", () => {
  it("SCALE-1.6: a pg.Pool of the app is accepted as it is (typed structurally, so apps without pg's types type-check) and left open by close()", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    try {
      const store = new PostgresDocStore({ pool, schema: 'app_pool' })
      const id = docId('pool/doc')
      const ydoc = new Y.Doc()
      ydoc.getText('t').insert(0, 'on the app pool')
      await store.append(id, Y.encodeStateAsUpdate(ydoc))
      await store.close()
      const row = await pool.query<{ n: string }>('SELECT count(*) AS n FROM app_pool.weft_updates')
      expect(Number(row.rows[0]?.n)).toBe(1)
    } finally {
      await pool.end()
    }
  })
})

describe('PostgresDocStore: one document never stalls the others (SCALE-1.5)', () => {
  /** Settles `p` into a box, so a test can check that it has not settled yet. */
  const track = <T>(p: Promise<T>): { settled: boolean; promise: Promise<T> } => {
    const box = { settled: false, promise: p }
    p.then(
      () => (box.settled = true),
      () => (box.settled = true),
    )
    return box
  }

  it('SCALE-1.5: a counter row held by another transaction delays only its own document; its appends commit in call order once released', async () => {
    const schema = `held_${n++}`
    const store = open(schema)
    const [X, Y] = [docId('lockX'), docId('ws/freeY')]
    await store.append(X, Uint8Array.of(1))
    await store.append(Y, Uint8Array.of(1))
    // R3: what a long compaction of X (or an operator's session) does.
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query(`SELECT * FROM ${schema}.weft_docs WHERE doc = $1 FOR UPDATE`, [X])
    const xs = [2, 3, 4].map((i) => track(store.append(X, Uint8Array.of(i))))
    // Same window as X's appends, then later windows while X stays held.
    expect(await store.append(Y, Uint8Array.of(2))).toBe(2)
    expect(await store.append(Y, Uint8Array.of(3))).toBe(3)
    expect(await store.workspaceSeq('ws')).toBe(3)
    expect((await store.load(Y))?.clock).toBe(3)
    expect(xs.map((x) => x.settled)).toEqual([false, false, false])
    await holder.query('COMMIT')
    expect(await Promise.all(xs.map((x) => x.promise))).toEqual([2, 3, 4])
    expect([...((await store.load(X))?.updates ?? [])].map((u) => u[0])).toEqual([1, 2, 3, 4])
    await holder.end()
    await store.close()
  })

  it('SCALE-1.5: a large append is committed apart: a small one of another document in the same window does not wait for it', async () => {
    const schema = `large_${n++}`
    const store = open(schema)
    await store.ready()
    const [big, small] = [docId('bigE'), docId('soZ')]
    // Makes big's first insert wait (another node inserting the same new document): a stand-in for a slow write.
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query(`INSERT INTO ${schema}.weft_docs (doc, clock) VALUES ($1, 0)`, [big])
    const large = track(store.append(big, new Uint8Array(LARGE_APPEND_BYTES).fill(7)))
    expect(await store.append(small, Uint8Array.of(1))).toBe(1)
    expect(large.settled).toBe(false)
    await holder.query('COMMIT')
    expect(await large.promise).toBe(1)
    expect((await store.load(big))?.byteLength).toBe(LARGE_APPEND_BYTES)
    await holder.end()
    await store.close()
  })
})

describe('PostgresDocStore workspace index across nodes', () => {
  it('WS-STORE-2.4: two nodes append to one workspace at once: seqs are exactly 1..n, and a reader only ever sees a gap-free prefix', async () => {
    const schema = `ws_nodes_${n++}`
    const [s1, s2, reader] = [open(schema), open(schema), open(schema)]
    const total = 80
    let writing = true
    const writes = (async () => {
      const pending: Promise<number>[] = []
      for (let i = 0; i < total; i++) {
        pending.push((i % 2 ? s1 : s2).append(docId(`acme/d${i}`), Uint8Array.of(i)))
        // Many transactions per node, interleaved with the other node's.
        if (i % 5 === 4) await Promise.all(pending)
      }
      await Promise.all(pending)
    })().finally(() => {
      writing = false
    })
    // Each page is exactly the seqs cursor+1..through: a change never commits before one with a lower seq.
    let cursor = 0
    const seen: number[] = []
    const readPage = async (): Promise<void> => {
      const page = await reader.changesSince('acme', cursor, 1000)
      expect(page.changes.map((c) => c.seq)).toEqual(
        Array.from({ length: page.through - cursor }, (_, i) => cursor + 1 + i),
      )
      seen.push(...page.changes.map((c) => c.seq))
      cursor = page.through
    }
    while (writing) await readPage()
    await writes
    await readPage()
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(await s1.workspaceSeq('acme')).toBe(total)
    // Epoch switches (compactions that are changes, WS-STORE-2.1) and removals by both nodes at once continue the same
    // sequence.
    const a = docId('acme/d0')
    const b = docId('acme/d1')
    const [la, lb] = await Promise.all([s1.load(a), s2.load(b)])
    await Promise.all([
      s1.compact(a, Uint8Array.of(9), la?.clock ?? 0, { meta: { epoch: 'e1' } }),
      s2.compact(b, Uint8Array.of(9), lb?.clock ?? 0, { meta: { epoch: 'e1' } }),
      s1.remove(docId('acme/d2')),
      s2.append(docId('acme/d3'), Uint8Array.of(1)),
    ])
    expect((await reader.changesSince('acme', total, 10)).changes.map((c) => c.seq)).toEqual([
      total + 1,
      total + 2,
      total + 3,
      total + 4,
    ])
    await Promise.all([s1.close(), s2.close(), reader.close()])
  })

  it('WS-STORE-2.4: group commits spanning two workspaces in opposite orders, and compactions of their documents, by two nodes at once never deadlock and keep each sequence gap-free', async () => {
    const schema = `ws_order_${n++}`
    const [s1, s2] = [open(schema), open(schema)]
    const rounds = 25
    const compacted = await Promise.all(
      Array.from({ length: rounds }, async (_, i) => {
        // One tick per node: each node's appends of this round are one statement locking both workspaces.
        const one = [
          s1.append(docId(`zeta/a${i}`), Uint8Array.of(1)),
          s1.append(docId(`acme/a${i}`), Uint8Array.of(1)),
        ]
        const two = [
          s2.append(docId(`acme/b${i}`), Uint8Array.of(2)),
          s2.append(docId(`zeta/b${i}`), Uint8Array.of(2)),
        ]
        const clocks = await Promise.all([...one, ...two])
        // Epoch switches (a transaction: document row, then workspace row) racing the next rounds' appends.
        const results = await Promise.all([
          s2.compact(docId(`acme/a${i}`), Uint8Array.of(9), clocks[1] ?? 0, { meta: { epoch: 'e1' } }),
          s1.compact(docId(`zeta/b${i}`), Uint8Array.of(9), clocks[3] ?? 0, { meta: { epoch: 'e1' } }),
        ])
        return results.filter((r) => r.ok).length
      }),
    )
    expect(compacted.reduce((a, b) => a + b, 0)).toBe(2 * rounds)
    // Per workspace: two appended documents and one compaction per round, one seq each, none lost or repeated.
    for (const ws of ['acme', 'zeta']) {
      const page = await s1.changesSince(ws, 0, 1000)
      expect(page.through).toBe(3 * rounds)
      const seqs = page.changes.map((c) => c.seq)
      expect(seqs).toHaveLength(2 * rounds)
      expect(new Set(seqs).size).toBe(2 * rounds)
      expect(Math.max(...seqs)).toBe(3 * rounds)
    }
    await Promise.all([s1.close(), s2.close()])
  })

  it('WS-STORE-5.1: a database of schema version 1 is indexed when a node of a later version opens it', async () => {
    const schema = `ws_v1_${n++}`
    const old = open(schema)
    await old.append(docId('acme/b'), Uint8Array.of(1, 2))
    const c = await old.append(docId('acme/a'), Uint8Array.of(3))
    await old.compact(docId('acme/a'), Uint8Array.of(4, 4, 4), c)
    await old.append(docId('beta/x/y'), Uint8Array.of(5))
    await old.append(docId('plain'), Uint8Array.of(6))
    await old.setMeta(docId('acme/meta-only'), 'k', 'v')
    await old.close()
    // What version 1 left: the same tables without the workspace index.
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    await client.query(`DROP TABLE ${schema}.weft_workspaces, ${schema}.weft_workspace_docs`)
    await client.query(`UPDATE ${schema}.weft_schema SET version = 1`)
    await client.query(`ALTER TABLE ${schema}.weft_meta DROP COLUMN data`)
    await client.query(`ALTER TABLE ${schema}.weft_meta ALTER COLUMN value SET NOT NULL`)
    // Two nodes start at once: the schema lock lets one index it, once.
    const [n1, n2] = [open(schema), open(schema)]
    await Promise.all([n1.ready(), n2.ready()])
    expect(await n2.workspaces()).toEqual([
      { id: 'acme', documents: 2, seq: 2, bytes: 5 },
      { id: 'beta', documents: 1, seq: 1, bytes: 1 },
    ])
    expect((await n1.changesSince('acme', 0, 10)).changes).toEqual([
      { doc: 'a', seq: 1 },
      { doc: 'b', seq: 2 },
    ])
    expect(
      (await client.query(`SELECT version FROM ${schema}.weft_schema WHERE component = 'docstore'`)).rows,
    ).toEqual([{ version: POSTGRES_SCHEMA_VERSION }])
    await n1.append(docId('acme/b'), Uint8Array.of(7))
    expect(await n2.workspaceSeq('acme')).toBe(3)
    expect([...((await n2.load(docId('acme/a')))?.snapshot ?? [])]).toEqual([4, 4, 4])
    await client.end()
    await Promise.all([n1.close(), n2.close()])
  })
})
