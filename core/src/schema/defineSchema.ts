import { WeftError, WeftErrorCode } from '../WeftError.js'
import type {
  CollectionField,
  FieldDef,
  Fields,
  ItemField,
  ListField,
  RecordField,
  RichTextField,
  TextField,
} from './fields.js'
import type { Migration } from './migration.js'

/** What may sit at the root of a document: every root entry is a top-level shared type, merged by name. */
export type RootField =
  | RecordField<Fields>
  | CollectionField<RecordField<Fields>>
  | ListField<ItemField>
  | TextField
  | RichTextField

/** The root entries of a schema, by key. */
export type RootFields = { readonly [key: string]: RootField }

/**
 * A container stored as a top-level shared type of the Y.Doc (`doc.getMap(name)`, ...). Root entries are static
 * containers, and so are the text, list, record and collection fields of root records (named `"record.field"`):
 * top-level types are merged by name, so two peers creating one concurrently never lose each other's writes.
 */
export interface StaticContainer {
  /** The top-level type's name, e.g. `"shapes"` or `"settings.notes"`. */
  readonly name: string
  /** Its declaration. */
  readonly field: RootField
}

/** A declared document schema. Create with {@link defineSchema}. */
export interface Schema<Root extends RootFields = RootFields> {
  /** The schema's name; migration ids start with it. */
  readonly name: string
  /** The version this app writes. */
  readonly version: number
  /** The root entries. */
  readonly root: Root
  /** Migrations, ordered by version. */
  readonly migrations: readonly Migration[]
  /** Every static container, by top-level name. */
  readonly statics: ReadonlyMap<string, StaticContainer>
}

/** Options of {@link defineSchema}. */
export interface SchemaOptions<Root extends RootFields> {
  /** A stable name for the schema, e.g. `"whiteboard"`. Must not contain `/`. */
  readonly name: string
  /** The version this app writes: a positive integer, raised with each migration. */
  readonly version: number
  /** The root entries: records, collections, lists, text, rich text. */
  readonly root: Root
  /** Migrations `"<name>/2"` .. `"<name>/<version>"`, in order (versions without a migration may be skipped). */
  readonly migrations?: readonly Migration[]
}

/** The reserved prefix of Weft's own top-level types (`__weft`, `__weft.conflicts`, ...). */
export const RESERVED_PREFIX = '__weft'

const bad = (message: string): WeftError =>
  new WeftError(WeftErrorCode.InvalidArgument, `defineSchema: ${message}`)

const checkName = (name: string, where: string): void => {
  if (
    name.length === 0 ||
    name.includes('.') ||
    name.includes('@') ||
    name.startsWith(RESERVED_PREFIX) ||
    name === '__proto__'
  ) {
    throw bad(
      `${where} "${name}": names must be non-empty, without "." or "@", not "__proto__", and not start with "${RESERVED_PREFIX}"`,
    )
  }
}

/**
 * Declares a document schema. Checks the declaration (names, where collections may appear, references,
 * migration ids) and throws a `WeftError` (`invalid-argument`) for mistakes: they are programmer errors.
 *
 * @example
 * ```ts
 * const board = defineSchema({ name: 'whiteboard', version: 1, root: { shapes: s.collection(Shape) } })
 * type Board = Infer<typeof board>
 * ```
 */
export const defineSchema = <Root extends RootFields>(options: SchemaOptions<Root>): Schema<Root> => {
  const { name, version, root } = options
  const migrations = options.migrations ?? []
  if (name.length === 0 || name.includes('/'))
    throw bad(`schema name "${name}" must be non-empty and without "/"`)
  if (!Number.isInteger(version) || version < 1)
    throw bad(`version must be a positive integer, got ${version}`)

  const statics = new Map<string, StaticContainer>()
  const refs: Array<{ ref: string; where: string }> = []

  const walkFields = (fields: Fields, where: string, isStatic: boolean, inCollection: boolean): void => {
    for (const [key, field] of Object.entries(fields)) {
      checkName(key, `field ${where}.${key}`)
      if (inCollection && key === 'id')
        throw bad(`${where}: a collection record may not declare a field "id"`)
      walkField(field, `${where}.${key}`, isStatic)
    }
  }
  const walkField = (field: FieldDef, where: string, isStatic: boolean): void => {
    if (isStatic && field.kind !== 'value') statics.set(where, { name: where, field })
    switch (field.kind) {
      case 'value':
        if (field.ref !== undefined) refs.push({ ref: field.ref, where })
        return
      case 'record':
        walkFields(field.fields, where, isStatic, false)
        return
      case 'collection':
        if (!isStatic) throw bad(`${where}: collections may appear only at the root or in root records`)
        walkFields(field.record.fields, where, false, true)
        return
      case 'list':
        if (field.item.kind === 'record') walkFields(field.item.fields, where, false, false)
        else walkField(field.item, where, false)
        return
      case 'text':
      case 'richText':
        return
    }
  }
  for (const [key, field] of Object.entries(root)) {
    checkName(key, 'root key')
    if ((field as FieldDef).kind === 'value')
      throw bad(`root "${key}" must be a record, collection, list or text`)
    walkField(field, key, true)
  }
  for (const { ref, where } of refs) {
    if (statics.get(ref)?.field.kind !== 'collection')
      throw bad(`${where}: ref("${ref}") names no collection`)
  }

  let last = 1
  const seen = new Set<string>()
  for (const m of migrations) {
    const match = /^(.+)\/(\d+)$/.exec(m.id)
    if (!match || match[1] !== name) throw bad(`migration id "${m.id}" must be "${name}/<version>"`)
    const n = Number(match[2])
    if (n <= last || n > version)
      throw bad(`migration "${m.id}": versions must increase, from 2 up to ${version}`)
    if (seen.has(m.id)) throw bad(`migration "${m.id}" is declared twice`)
    seen.add(m.id)
    last = n
    for (const path of Object.keys(m.records ?? {})) {
      const kind = statics.get(path)?.field.kind
      if (kind !== 'collection' && kind !== 'record')
        throw bad(`migration "${m.id}": "${path}" is no collection or root record`)
    }
  }
  return { name, version, root, migrations, statics }
}

/** The version number in a migration id (`"board/3"` gives 3). */
export const migrationVersion = (id: string): number => Number(id.slice(id.lastIndexOf('/') + 1))
