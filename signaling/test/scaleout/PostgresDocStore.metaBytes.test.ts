import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { toBase64 } from 'lib0/buffer'
import { docId, WeftErrorCode } from '@weft/core'
import { EPOCH_CHILD_META_KEY, EPOCH_META_KEY, EPOCH_RECORD_META_KEY } from '@weft/core/epochs'
import { PostgresDocStore } from '../../src/scaleout/PostgresDocStore.js'
import { POSTGRES_SCHEMA_VERSION } from '../../src/scaleout/postgresSchema.js'
import { startPostgres, type PostgresService } from './startServices.js'

// STORE-4.3: PostgresDocStore keeps the epoch records (base64 meta entries) as deflated bytes; text rows of
// databases of schema version 2 load as they are.

let service: PostgresService
let client: pg.Client
beforeAll(async () => {
  service = await startPostgres()
  client = new pg.Client({ connectionString: service.url })
  await client.connect()
}, 30_000)
afterAll(async () => {
  await client?.end()
  await service?.stop()
})

let n = 0
const open = (schema: string): PostgresDocStore =>
  new PostgresDocStore({ connectionString: service.url, schema, maxConnections: 2 })

const D = docId('board')
/** A record-like value: repetitive bytes (the V2 content of a document deflates well), as base64. */
const record = (seed: number): string =>
  toBase64(Uint8Array.from({ length: 3000 }, (_, i) => (i % 40) + seed))

interface MetaRow {
  key: string
  value: string | null
  data: Buffer | null
}
const metaRows = async (schema: string, doc: string): Promise<Map<string, MetaRow>> => {
  const res = await client.query<MetaRow>(`SELECT key, value, data FROM ${schema}.weft_meta WHERE doc = $1`, [
    doc,
  ])
  return new Map(res.rows.map((r) => [r.key, r]))
}

describe('epoch records in PostgreSQL (STORE-4.3)', () => {
  it('STORE-4.3: an epoch record is stored as deflated bytes, smaller than its base64, and loads as the same base64; other values stay text', async () => {
    const schema = `meta_bytes_${n++}`
    const store = open(schema)
    const text = record(1)
    await store.setMeta(D, EPOCH_RECORD_META_KEY, text)
    await store.setMeta(D, EPOCH_META_KEY, 'e1')
    await store.append(D, Uint8Array.of(1), { meta: { [EPOCH_CHILD_META_KEY]: record(2) } })
    const rows = await metaRows(schema, D)
    const row = rows.get(EPOCH_RECORD_META_KEY)
    expect(row?.value).toBeNull()
    expect(row?.data?.byteLength).toBeLessThan(text.length / 4)
    expect(rows.get(EPOCH_CHILD_META_KEY)?.value).toBeNull()
    expect(rows.get(EPOCH_META_KEY)).toMatchObject({ value: 'e1', data: null })
    expect((await store.load(D))?.meta).toEqual({
      [EPOCH_RECORD_META_KEY]: text,
      [EPOCH_CHILD_META_KEY]: record(2),
      [EPOCH_META_KEY]: 'e1',
    })
    // Replacing a record with text (not canonical base64) and back keeps one form per row.
    await store.setMeta(D, EPOCH_RECORD_META_KEY, 'AAAA=')
    expect((await metaRows(schema, D)).get(EPOCH_RECORD_META_KEY)).toMatchObject({
      value: 'AAAA=',
      data: null,
    })
    expect((await store.load(D))?.meta[EPOCH_RECORD_META_KEY]).toBe('AAAA=')
    await store.close()
  })

  it('STORE-4.3: a database of schema version 2 (records as text) opens: its rows load as they are, new records are stored as bytes', async () => {
    const schema = `meta_v2_${n++}`
    const first = open(schema)
    await first.ready()
    await first.close()
    // What version 2 left: `weft_meta.value text NOT NULL`, no `data`, records as base64 text.
    await client.query(`ALTER TABLE ${schema}.weft_meta DROP COLUMN data`)
    await client.query(`ALTER TABLE ${schema}.weft_meta ALTER COLUMN value SET NOT NULL`)
    await client.query(`UPDATE ${schema}.weft_schema SET version = 2`)
    const old = record(3)
    await client.query(
      `INSERT INTO ${schema}.weft_meta (doc, key, value) VALUES ($1, $2, $3), ($1, $4, 'e0')`,
      [D, EPOCH_RECORD_META_KEY, old, EPOCH_META_KEY],
    )
    // Two nodes start at once: the schema lock lets one upgrade it, once.
    const [s1, s2] = [open(schema), open(schema)]
    await Promise.all([s1.ready(), s2.ready()])
    expect(
      (await client.query(`SELECT version FROM ${schema}.weft_schema WHERE component = 'docstore'`)).rows,
    ).toEqual([{ version: POSTGRES_SCHEMA_VERSION }])
    expect((await s1.load(D))?.meta).toEqual({ [EPOCH_RECORD_META_KEY]: old, [EPOCH_META_KEY]: 'e0' })
    expect((await metaRows(schema, D)).get(EPOCH_RECORD_META_KEY)).toMatchObject({ value: old, data: null })
    // The next record (an epoch switch: compaction with meta) is stored as bytes.
    const next = record(4)
    const c = await s2.append(D, Uint8Array.of(1))
    expect(
      await s2.compact(D, Uint8Array.of(2), c, {
        meta: { [EPOCH_RECORD_META_KEY]: next, [EPOCH_META_KEY]: 'e1' },
      }),
    ).toEqual({ ok: true })
    expect((await metaRows(schema, D)).get(EPOCH_RECORD_META_KEY)?.value).toBeNull()
    expect((await s1.load(D))?.meta[EPOCH_RECORD_META_KEY]).toBe(next)
    await Promise.all([s1.close(), s2.close()])
  })

  it('STORE-4.3, STORE-6.2: bytes that do not inflate, or bytes under a text key, are store-corrupted', async () => {
    const schema = `meta_bad_${n++}`
    const store = open(schema)
    await store.setMeta(D, EPOCH_RECORD_META_KEY, record(5))
    await client.query(`UPDATE ${schema}.weft_meta SET data = $1 WHERE doc = $2`, [Buffer.from([1, 2, 3]), D])
    await expect(store.load(D)).rejects.toMatchObject({ code: WeftErrorCode.StoreCorrupted })
    await client.query(`DELETE FROM ${schema}.weft_meta WHERE doc = $1`, [D])
    await client.query(`INSERT INTO ${schema}.weft_meta (doc, key, data) VALUES ($1, 'title', $2)`, [
      D,
      Buffer.from([1]),
    ])
    await expect(store.load(D)).rejects.toMatchObject({ code: WeftErrorCode.StoreCorrupted })
    await store.close()
  })
})
