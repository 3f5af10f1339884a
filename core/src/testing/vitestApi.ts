import type * as VitestModule from 'vitest'
import { WeftError, WeftErrorCode } from '../WeftError.js'

type Vitest = typeof VitestModule

/**
 * vitest, loaded only where it is installed (an optional peer of `@weft/core`): the contract suites of
 * `@weft/core/testing` register vitest tests, while its in-memory fakes (`MemoryDocStore`, `MemoryTransport`, ...)
 * serve apps and other test runners too. Without vitest the subpath still imports; calling a suite throws.
 */
const api: Vitest | null = await import('vitest').catch(() => null)

const missing = (): never => {
  throw new WeftError(
    WeftErrorCode.InvalidArgument,
    'the contract suites of @weft/core/testing run under vitest, which is not installed (npm install -D vitest)',
  )
}

export const describe: Vitest['describe'] = api?.describe ?? (missing as unknown as Vitest['describe'])
export const it: Vitest['it'] = api?.it ?? (missing as unknown as Vitest['it'])
export const expect: Vitest['expect'] = api?.expect ?? (missing as unknown as Vitest['expect'])
export const beforeEach: Vitest['beforeEach'] =
  api?.beforeEach ?? (missing as unknown as Vitest['beforeEach'])
export const afterEach: Vitest['afterEach'] = api?.afterEach ?? (missing as unknown as Vitest['afterEach'])
