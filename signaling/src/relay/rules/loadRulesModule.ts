import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Rules } from '@weft/core/rules'
import { WeftServerError } from '../../WeftServerError.js'
import type { RelayRulesOption } from './RelayRules.js'

const isRules = (value: unknown): value is Rules =>
  typeof value === 'object' &&
  value !== null &&
  'schema' in value &&
  (value as { collections?: unknown }).collections instanceof Map

/**
 * Loads `weft serve --rules <module>` (RULES-4.1): the module's default export (or its `rules` export) is one
 * `defineRules(...)` (every room), a `{ [roomPattern]: rules }` map, or a function of the room name. Throws a
 * `WeftServerError` (`invalid-argument`) when the module cannot be loaded or exports none of these.
 */
export const loadRulesModule = async (path: string): Promise<RelayRulesOption> => {
  let mod: { default?: unknown; rules?: unknown }
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as typeof mod
  } catch (err) {
    throw new WeftServerError('invalid-argument', `--rules: cannot load ${path}`, { cause: err })
  }
  const value = mod.default ?? mod.rules
  if (isRules(value)) return { '*': value }
  if (typeof value === 'function') return value as RelayRulesOption
  if (typeof value === 'object' && value !== null && Object.values(value).every(isRules))
    return value as RelayRulesOption
  throw new WeftServerError(
    'invalid-argument',
    `--rules: ${path} exports no rules (a default export of defineRules(...), a { roomPattern: rules } map or a function)`,
  )
}
