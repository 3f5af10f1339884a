import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError, WeftErrorCode } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc } from '../../src/index.js'

/** The CommonJS build of yjs: a second copy next to the ES module that @weft/core and the providers import. */
const OtherY = createRequire(import.meta.url)('yjs') as typeof Y

describe('openDoc and two copies of yjs (issue 12.8)', () => {
  it('PROV-5.9 openDoc({ doc }) refuses a Y.Doc from another copy of yjs with a WeftError naming the cause', async () => {
    const foreign = new OtherY.Doc() as unknown as Y.Doc
    const store = new MemoryDocStore()
    const error: unknown = await openDoc({ docId: 'd', doc: foreign, store, connect: false }).catch(
      (err: unknown) => err,
    )
    expect(error).toBeInstanceOf(WeftError)
    expect((error as WeftError).code).toBe(WeftErrorCode.InvalidArgument)
    expect((error as WeftError).message).toMatch(/^openDoc\(\{ doc \}\): .*two copies of yjs are loaded/)
    // refused before anything was loaded into it or stored
    expect(foreign.share.size).toBe(0)
    // a Y.Doc of the same copy opens
    const ok = await openDoc({ docId: 'd', doc: new Y.Doc(), store, connect: false })
    await ok.destroy()
  })
})
