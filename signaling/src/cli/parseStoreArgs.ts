import { parseArgs } from 'node:util'

/** Usage of `weft inspect` (printed to stdout by `--help`, to stderr after a usage error). */
export const INSPECT_USAGE = `Usage: weft inspect <store> [doc] [--json]
       weft inspect <store> --workspaces [workspace] [--json]

Reports, per document of a store (or only [doc]): live content size, encoded size (V2 and V1), stored size
(snapshot + tail), stored tail updates, live and deleted items, client ids, epoch.
With --workspaces: every workspace (documents W/D) with its document count, change sequence and stored bytes; with
[workspace]: that workspace's documents, each with the change sequence of its last change (removed ones marked).

  <store>       a weft serve --data directory, or a SQLite store file
  [doc]         one document id (default: every document)
  --workspaces  list workspaces instead of documents
  --json        print one JSON object keyed by document (or workspace) id
  -h, --help    print this help
`

/** Usage of `weft compact`. */
export const COMPACT_USAGE = `Usage: weft compact <store> [doc]

Log compaction of every document of a store (or only [doc]), with a progress bar; reports the stored bytes before
and after (a document with nothing to fold counts as already compact, its size unchanged). A [doc] that is not in
the store is an error (exit 1).
Atomic per document and keeps appends made meanwhile, so it may run next to a live server.

  <store>     a weft serve --data directory, or a SQLite store file
  [doc]       one document id (default: every document)
  -h, --help  print this help
`

/** Outcome of {@link parseStoreArgs}. */
export type StoreArgs =
  | { readonly ok: true; readonly help: true }
  | {
      readonly ok: true
      readonly help: false
      readonly path: string
      readonly doc: string | undefined
      readonly json: boolean
      /** `weft inspect --workspaces`: `doc` then names a workspace. */
      readonly workspaces: boolean
    }
  | { readonly ok: false; readonly reason: string }

/**
 * Parses the arguments of `weft inspect` (`json: true` allows `--json` and `--workspaces`) or `weft compact`:
 * `<store> [doc]`, with
 * `--help`/`-h` anywhere. An unknown flag or a missing store is a usage error; `--` ends the flags (a document id
 * that starts with `-`).
 */
export const parseStoreArgs = (args: readonly string[], accepts: { readonly json: boolean }): StoreArgs => {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...(accepts.json
          ? { json: { type: 'boolean' as const }, workspaces: { type: 'boolean' as const } }
          : {}),
      },
    })
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }
  if (parsed.values.help === true) return { ok: true, help: true }
  const [path, doc, ...extra] = parsed.positionals
  if (path === undefined) return { ok: false, reason: 'missing <store>' }
  if (extra.length > 0) return { ok: false, reason: `unexpected argument ${JSON.stringify(extra[0])}` }
  const values = parsed.values as { json?: boolean; workspaces?: boolean }
  return {
    ok: true,
    help: false,
    path,
    doc,
    json: values.json === true,
    workspaces: values.workspaces === true,
  }
}
