/** Version of the tables {@link schemaStatements} creates; stored in `weft_schema`. */
export const POSTGRES_SCHEMA_VERSION = 3

/** The schema version that added the workspace index: an older database is indexed when it is opened. */
export const WORKSPACE_INDEX_SCHEMA_VERSION = 2

/** The schema version that keeps the epoch records as bytes (`weft_meta.data`, STORE-4.3). */
export const META_BYTES_SCHEMA_VERSION = 3

/** Advisory lock key (first half) serializing schema creation across nodes starting at once. */
export const SCHEMA_LOCK_KEY = 0x77656674 // "weft"

/** Advisory lock namespace (first half of the two-key form) for compactions; the second half hashes the doc id. */
export const COMPACT_LOCK_KEY = 0x77656663 // "wefc"

/** A PostgreSQL schema name the store may interpolate into SQL (lower-case identifier). */
export const isSafeSchemaName = (name: string): boolean => /^[a-z_][a-z0-9_]{0,62}$/.test(name)

/**
 * The DDL of {@link PostgresDocStore}, version 1:
 * - `weft_docs`: one row per document with its clock counter (the last clock handed out). Appends increment it in
 *   the transaction that inserts their rows, so clocks are gap-free, shared by every node, and commit in clock order.
 * - `weft_snapshots`: the compacted state (V2) and the clock it covers.
 * - `weft_updates`: the tail, keyed by (doc, clock).
 * - `weft_meta`: per-document string metadata.
 *
 * Version 2 adds the workspace index (`WS-STORE-*`; a version-1 database is indexed when a version-2 node opens it):
 * - `weft_workspaces`: one row per workspace with its change sequence (the last seq handed out).
 * - `weft_workspace_docs`: per document `W/D` of a workspace, the seq of its last change; `removed` marks a tombstone.
 *
 * Version 3 keeps a meta value either as `value` (text) or as `data` (the deflated bytes of a base64 entry, the epoch
 * records: STORE-4.3); {@link metaBytesStatements} turns a version-2 table into it, whose text rows load as they are.
 */
export const schemaStatements = (schema: string): string[] => [
  `CREATE SCHEMA IF NOT EXISTS ${schema}`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_schema (component text PRIMARY KEY, version integer NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_docs (doc text PRIMARY KEY, clock bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_snapshots (doc text PRIMARY KEY, clock bigint NOT NULL, data bytea NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_updates (doc text NOT NULL, clock bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (doc, clock))`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_meta (doc text NOT NULL, key text NOT NULL, value text, data bytea, PRIMARY KEY (doc, key), CHECK ((value IS NULL) <> (data IS NULL)))`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_workspaces (id text PRIMARY KEY, seq bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${schema}.weft_workspace_docs (workspace text NOT NULL, doc text NOT NULL, seq bigint NOT NULL, removed boolean NOT NULL DEFAULT false, PRIMARY KEY (workspace, doc))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS weft_workspace_docs_seq ON ${schema}.weft_workspace_docs (workspace, seq)`,
]

/** The DDL turning a `weft_meta` of version 2 or older into version 3 (run once, under the schema lock). */
export const metaBytesStatements = (schema: string): string[] => [
  `ALTER TABLE ${schema}.weft_meta ADD COLUMN IF NOT EXISTS data bytea`,
  `ALTER TABLE ${schema}.weft_meta ALTER COLUMN value DROP NOT NULL`,
]
