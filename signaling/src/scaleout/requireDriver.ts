import { createRequire } from 'node:module'
import { WeftServerError } from '../WeftServerError.js'

/** The drivers scale-out mode needs: optional peer dependencies of `@weft/signaling`, installed by the app. */
export type ScaleOutDriver = 'pg' | 'ioredis'

const require = createRequire(import.meta.url)

const isMissing = (err: unknown, name: string): boolean =>
  typeof err === 'object' &&
  err !== null &&
  'code' in err &&
  (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND') &&
  err instanceof Error &&
  err.message.includes(`'${name}'`)

/**
 * Loads a scale-out driver when scale-out is configured, not when `@weft/signaling` is imported: a server without
 * scale-out never needs `pg` or `ioredis` installed. Both are CommonJS packages, so they load synchronously (the
 * classes that use them construct their connections in their constructors).
 * @throws WeftServerError `missing-dependency`, naming the command that installs the drivers, when it is absent.
 */
export const requireDriver = <T>(name: ScaleOutDriver): T => {
  try {
    return require(name) as T
  } catch (err) {
    if (!isMissing(err, name)) throw err
    throw new WeftServerError(
      'missing-dependency',
      `scale-out mode needs the '${name}' package, which is not installed: run \`npm install pg ioredis\``,
      { cause: err },
    )
  }
}
