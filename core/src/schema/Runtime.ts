import type * as Y from 'yjs'
import type { ValueField } from './fields.js'
import type { ReadEnv } from './readRecord.js'
import type { PathSegment, WriteFailure } from './types.js'
import type { WriteEnv } from './writeRecord.js'

/**
 * What typed handles need from the document they belong to (implemented by `TypedDoc`). Internal: handles are
 * created by the typed document, never by apps.
 */
export interface Runtime extends ReadEnv, WriteEnv {
  readonly doc: Y.Doc
  /** Why writes are refused right now (`upgrade-required`, ...), or undefined when writable. */
  readonly refusal: WriteFailure | undefined
  /** Runs `fn` in one transaction with the document's local origin (joins an enclosing transaction). */
  transact(fn: () => void): void
  /** Writes a plain value, through the conflict register for `.keepConflicts()` fields. */
  writeValue(
    map: Y.Map<unknown>,
    key: string,
    def: ValueField<unknown, boolean>,
    value: unknown,
    path: readonly PathSegment[],
  ): void
}
