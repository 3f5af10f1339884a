import { fromBase64, toBase64 } from 'lib0/buffer'
import { BASE64_META_KEYS } from './epochMeta.js'

/**
 * How a store compresses the bytes it keeps for a base64 meta entry (STORE-4.3): both synchronous, `decompress`
 * undoing `compress`, and throwing on bytes that are not its output. Node stores pass `node:zlib`'s
 * `deflateRawSync` and `inflateRawSync`.
 */
export interface MetaBytesCodec {
  readonly compress: (bytes: Uint8Array) => Uint8Array
  readonly decompress: (stored: Uint8Array) => Uint8Array
}

/** What `load` gives for a stored meta value ({@link MetaBytes.loaded}); a failure means a damaged row. */
export type LoadedMetaResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly reason: 'bad-row' | 'does-not-decompress' }

/** The conversions of meta values a store whose medium holds bytes applies (docs/spec/storage.md, STORE-4.3). */
export interface MetaBytes {
  /**
   * The value to store for `key`: for an entry of `BASE64_META_KEYS` (`@weft/core/epochs`: the epoch records) the
   * bytes its base64 encodes, compressed by the codec; every other value, and a base64 entry that is not canonical
   * base64 (it would not load as written), the text as it is.
   */
  stored(key: string, value: string): string | Uint8Array
  /**
   * The text `load` gives for a stored value: a string as it is (every value stores of older versions wrote), the
   * bytes of a base64 entry as base64 again. `bad-row` for anything else (bytes under another key, a number);
   * `does-not-decompress` for bytes the codec refuses. Report either as `store-corrupted` (STORE-6.2).
   */
  loaded(key: string, value: unknown): LoadedMetaResult
}

const identity = (bytes: Uint8Array): Uint8Array => bytes

/**
 * The meta-value conversions of a store that keeps the epoch records as bytes (STORE-4.3), written once for every
 * store: `SqliteDocStore` and `PostgresDocStore` pass a deflate codec; without one the bytes are kept as they are.
 */
export const metaBytes = (codec?: MetaBytesCodec): MetaBytes => {
  const compress = codec?.compress ?? identity
  const decompress = codec?.decompress ?? identity
  return {
    stored(key, value) {
      if (!BASE64_META_KEYS.has(key)) return value
      let bytes: Uint8Array
      try {
        bytes = fromBase64(value)
      } catch {
        return value
      }
      return toBase64(bytes) === value ? compress(bytes) : value
    },
    loaded(key, value) {
      if (typeof value === 'string') return { ok: true, value }
      if (!(value instanceof Uint8Array) || !BASE64_META_KEYS.has(key))
        return { ok: false, reason: 'bad-row' }
      try {
        return { ok: true, value: toBase64(decompress(value)) }
      } catch {
        return { ok: false, reason: 'does-not-decompress' }
      }
    },
  }
}
