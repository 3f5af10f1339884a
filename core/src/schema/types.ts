import type * as Y from 'yjs'
import type {
  CollectionField,
  Fields,
  ItemField,
  ListField,
  RecordField,
  RichTextField,
  TextField,
  ValueField,
} from './fields.js'

/** Flattens an intersection so editors show `{ a: string; b: number }` instead of `A & B`. */
export type Prettify<T> = { [K in keyof T]: T[K] } & {}

/**
 * The TypeScript type of what a declaration reads as: `Infer<typeof Shape>` for a record, `Infer<typeof schema>`
 * for a whole document. Text reads as the live `Y.Text`, rich text as the live `Y.XmlFragment`.
 */
export type Infer<F> =
  F extends ValueField<infer T, boolean>
    ? T
    : F extends TextField
      ? Y.Text
      : F extends RichTextField
        ? Y.XmlFragment
        : F extends ListField<infer I>
          ? readonly Infer<I>[]
          : F extends RecordField<infer Fs>
            ? Prettify<{ readonly [K in keyof Fs]: Infer<Fs[K]> }>
            : F extends CollectionField<infer R>
              ? ReadonlyMap<string, Row<R>>
              : F extends { readonly root: infer Root extends Fields }
                ? Prettify<{ readonly [K in keyof Root]: Infer<Root[K]> }>
                : never

/** A record of a collection as read: its fields plus its `id`. */
export type Row<R> = Prettify<{ readonly id: string } & Infer<R>>

type HasDefault<F> =
  F extends ValueField<unknown, infer D>
    ? D
    : F extends TextField | RichTextField | ListField<ItemField>
      ? true
      : false

/** What an insert takes for the fields `Fs`: fields with a default, text, rich text and lists may be left out. */
export type InputFields<Fs extends Fields> = Prettify<
  { [K in keyof Fs as HasDefault<Fs[K]> extends true ? never : K]: Input<Fs[K]> } & {
    [K in keyof Fs as HasDefault<Fs[K]> extends true ? K : never]?: Input<Fs[K]>
  }
>

/**
 * What a write takes for a declaration: values as they are, text as its initial string, lists as arrays, records
 * as objects of their inputs. Rich text starts empty (fill it through its editor binding).
 */
export type Input<F> =
  F extends ValueField<infer T, boolean>
    ? T
    : F extends TextField
      ? string
      : F extends RichTextField
        ? undefined
        : F extends ListField<infer I>
          ? readonly Input<I>[]
          : F extends RecordField<infer Fs>
            ? InputFields<Fs>
            : never

/** Names of the plain-value fields of `Fs` (the ones `set()` and `update()` accept). */
export type ValueKeys<Fs extends Fields> = {
  [K in keyof Fs]: Fs[K] extends ValueField<unknown, boolean> ? K : never
}[keyof Fs] &
  string

/** A partial update of a record's plain-value fields. */
export type Patch<Fs extends Fields> = Prettify<{ readonly [K in ValueKeys<Fs>]?: Infer<Fs[K]> }>

/** One step of a path into the document: a root key, a record id, a field name or a list index. */
export type PathSegment = string | number

/** Why a write was refused. */
export type WriteFailureReason =
  /** The value does not match the declaration (the message says where and why). */
  | 'invalid-value'
  /** The document's schema is newer than this app's: it is read-only here. */
  | 'upgrade-required'
  /** The document belongs to another schema, or a migration failed: it is read-only here. */
  | 'read-only'
  /** The record does not exist (or is invalid, so it cannot be updated through the schema). */
  | 'not-found'
  /** A record with that id already exists. */
  | 'exists'

/** A refused write. Nothing was written to the Y.Doc. */
export interface WriteFailure {
  readonly ok: false
  readonly reason: WriteFailureReason
  readonly message: string
  /** Where the problem is, when it is about one value. */
  readonly path?: readonly PathSegment[]
}

/** The outcome of a write: `{ ok: true }` (plus a value for some writes) or a {@link WriteFailure}. */
export type WriteResult<T extends object = object> = ({ readonly ok: true } & T) | WriteFailure

/** Reported through the `invalid` event whenever stored data does not match the schema. */
export interface InvalidEvent {
  /** Where the value is, from the root key down. */
  readonly path: readonly PathSegment[]
  /** The stored value (as read; never modified). */
  readonly value: unknown
  /** What is wrong and what the schema did about it (read as default, record skipped, item skipped). */
  readonly reason: string
}

/** Who caused a change: this peer (`local`) or a remote one, with the transaction origin. */
export interface ChangeMeta {
  readonly local: boolean
  readonly origin: unknown
}

/** The Yjs shared types the schema stores. */
export type SharedType = Y.Text | Y.XmlFragment | Y.Array<unknown> | Y.Map<unknown>
