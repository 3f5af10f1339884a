import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError, WeftErrorCode } from '../../src/WeftError.js'
import { requireYDoc } from '../../src/requireYDoc.js'
import { openTyped } from '../../src/index.js'
import { DocPersistence } from '../../src/storage/DocPersistence.js'
import { SyncSession } from '../../src/sync/SyncSession.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'
import { docId } from '../../src/ids.js'
import { boardV2 } from './fixtures.js'

/** The CommonJS build of yjs: a second copy next to the ES module the code under test imports. */
const OtherY = createRequire(import.meta.url)('yjs') as typeof Y

describe('two copies of yjs (issue 12.8)', () => {
  it('SCHEMA-2.6 openTyped refuses a Y.Doc from another copy of yjs with a WeftError naming the cause', () => {
    expect(OtherY.Doc).not.toBe(Y.Doc)
    const foreign = new OtherY.Doc()
    let error: unknown
    try {
      openTyped(foreign as unknown as Y.Doc, boardV2)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(WeftError)
    expect((error as WeftError).code).toBe(WeftErrorCode.InvalidArgument)
    expect((error as WeftError).message).toMatch(/^openTyped\(doc\): .*two copies of yjs are loaded/)
    // nothing was written into the foreign document
    expect(foreign.share.size).toBe(0)
    // the same copy works
    expect(openTyped(new Y.Doc(), boardV2).status).toBe('ready')
  })

  it('SCHEMA-2.6 requireYDoc: a Y.Doc passes, anything else is refused', () => {
    const doc = new Y.Doc()
    expect(requireYDoc(doc, 'x')).toBe(doc)
    for (const junk of [undefined, null, {}, 'doc', new Y.Map()])
      expect(() => requireYDoc(junk, 'f(doc)')).toThrow(
        expect.objectContaining({ code: 'invalid-argument', message: 'f(doc): expected a Y.Doc' }) as Error,
      )
  })

  it('SCHEMA-2.6 SyncSession and DocPersistence refuse a Y.Doc from another copy of yjs', async () => {
    const foreign = new OtherY.Doc() as unknown as Y.Doc
    expect(() => new SyncSession({ doc: foreign })).toThrow(/^SyncSession: .*two copies of yjs/)
    await expect(
      DocPersistence.open({ doc: foreign, store: new MemoryDocStore(), docId: docId('d') }),
    ).rejects.toThrow(/^DocPersistence: .*two copies of yjs/)
  })
})
