import {
  RecordField,
  ValueField,
  type CollectionField,
  type Fields,
  type ItemField,
  type ListField,
  type Literal,
  type RichTextField,
  type TextField,
} from './fields.js'

/**
 * The schema builders. Declare a document's shape once; {@link Infer} gives its TypeScript types.
 *
 * @example
 * ```ts
 * const Shape = s.record({
 *   kind: s.enum(['rect', 'ellipse', 'sticky', 'stroke']),
 *   x: s.number(),
 *   fill: s.string().optional('#ffd54f'),
 *   label: s.text(),
 * })
 * ```
 */
export const s = {
  /** A string. */
  string: (): ValueField<string> => new ValueField<string>({ type: 'string' }),
  /** A finite number (NaN and Infinity are rejected). */
  number: (): ValueField<number> => new ValueField<number>({ type: 'number' }),
  /** A boolean. */
  boolean: (): ValueField<boolean> => new ValueField<boolean>({ type: 'boolean' }),
  /** Exactly one value. */
  literal: <const L extends Literal>(value: L): ValueField<L> =>
    new ValueField<L>({ type: 'literal', literals: [value] }),
  /** One of a fixed set of values. */
  enum: <const L extends readonly [Literal, ...Literal[]]>(values: L): ValueField<L[number]> =>
    new ValueField<L[number]>({ type: 'literal', literals: values }),
  /**
   * The id of a record in the root collection `collection` (checked when the schema is defined). Writes of an id
   * that does not exist are refused; a reference whose target was deleted later still reads as its id.
   */
  ref: (collection: string): ValueField<string> => new ValueField<string>({ type: 'ref', ref: collection }),
  /** Collaborative plain text (`Y.Text`): bind it to CodeMirror, a textarea, a sticky note. */
  text: (): TextField => ({ kind: 'text' }),
  /** Rich text (`Y.XmlFragment`): bind it to ProseMirror/Tiptap with y-prosemirror. */
  richText: (): RichTextField => ({ kind: 'richText' }),
  /** An ordered list (`Y.Array`) of values or of records. */
  list: <I extends ItemField>(item: I): ListField<I> => ({ kind: 'list', item }),
  /** A record with fixed fields (`Y.Map`). Fields a peer adds that are not declared are kept and ignored. */
  record: <F extends Fields>(fields: F): RecordField<F> => new RecordField(fields),
  /** Records keyed by id (`Y.Map` of `Y.Map`s). Pass a record, or its fields. */
  collection: <F extends Fields>(record: RecordField<F> | F): CollectionField<RecordField<F>> => ({
    kind: 'collection',
    record: record instanceof RecordField ? record : new RecordField(record),
  }),
} as const
