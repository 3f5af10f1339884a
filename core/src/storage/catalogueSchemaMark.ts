import type { ReservedSchema } from '../rules/reserved.js'

/**
 * The schema marks of a workspace catalogue (`weft-catalogue`, version 1, no migrations): the name and version the
 * catalogue's schema declares (`catalogueSchema` of `@weft/providers` takes them from here) and what the relay's
 * catalogue guard lets a writer store in the catalogue's `__weft` map (WS-ACCESS-6).
 */
export const CATALOGUE_SCHEMA_MARK: ReservedSchema = Object.freeze({
  name: 'weft-catalogue',
  version: 1,
  migrations: Object.freeze([]),
})
