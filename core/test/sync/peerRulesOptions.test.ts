/** RULES-6.7: options that cannot go with peer rules are refused when the document opens. */
import { describe, expect, it } from 'vitest'
import { openDocument, WeftError } from '../../src/index.js'
import { lockRules } from './peerRulesFixture.js'

describe('openDocument with rules (RULES-6.7)', () => {
  it('RULES-6.7 RULES-4.7: rules with epochs.autoStart reject with invalid-argument (a client-started epoch stops the sync)', async () => {
    const opened = openDocument({ docId: 'board-1', rules: { rules: lockRules }, epochs: { autoStart: {} } })
    await expect(opened).rejects.toBeInstanceOf(WeftError)
    await expect(opened).rejects.toMatchObject({
      code: 'invalid-argument',
      message: expect.stringContaining('epochs.autoStart'),
    })
  })

  it('RULES-6.7: rules with epochs that do not start (autoStart false, live, defaults) open', async () => {
    for (const epochs of [{ autoStart: false as const }, { live: true }, 'live' as const, true, undefined]) {
      const handle = await openDocument({
        docId: 'board-1',
        rules: { rules: lockRules },
        ...(epochs === undefined ? {} : { epochs }),
      })
      await handle.destroy()
    }
  })
})
