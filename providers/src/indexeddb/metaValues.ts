import { metaBytes } from '@weft/core/store-kit'

/** IndexedDB keeps an epoch record's bytes as they are (a `Uint8Array`, no compressor): the rule is store-kit's. */
const conversions = metaBytes()

/**
 * A meta value as `IndexedDbDocStore` stores it (docs/spec/storage.md, STORE-4.3): a base64 entry
 * (`BASE64_META_KEYS`: the epoch records) as a `Uint8Array` of its bytes, three quarters of the text; every other
 * value, and a base64 entry that is not canonical base64, as the string.
 */
export const storedMetaValue = (key: string, value: string): string | Uint8Array =>
  conversions.stored(key, value)

/**
 * A stored meta value as `load` gives it (STORE-4.3): a string as it is (every value of older versions), the bytes
 * of a base64 entry as base64; `null` for anything else (a damaged row).
 */
export const loadedMetaValue = (key: string, value: unknown): string | null => {
  const loaded = conversions.loaded(key, value)
  return loaded.ok ? loaded.value : null
}
