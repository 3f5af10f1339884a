import { fromBase64, toBase64 } from 'lib0/buffer'
import { BASE64_META_KEYS } from '@weft/core/epochs'

/**
 * A meta value as `IndexedDbDocStore` stores it (docs/spec/storage.md, STORE-4.3): a base64 entry
 * (`BASE64_META_KEYS`: the epoch records) as a `Uint8Array` of its bytes, three quarters of the text; every other
 * value, and a base64 entry that is not canonical base64, as the string.
 */
export const storedMetaValue = (key: string, value: string): string | Uint8Array => {
  if (!BASE64_META_KEYS.has(key)) return value
  let bytes: Uint8Array
  try {
    bytes = fromBase64(value)
  } catch {
    return value
  }
  return toBase64(bytes) === value ? bytes : value
}

/**
 * A stored meta value as `load` gives it (STORE-4.3): a string as it is (every value of older versions), the bytes
 * of a base64 entry as base64; `null` for anything else (a damaged row).
 */
export const loadedMetaValue = (key: string, value: unknown): string | null => {
  if (typeof value === 'string') return value
  return value instanceof Uint8Array && BASE64_META_KEYS.has(key) ? toBase64(value) : null
}
