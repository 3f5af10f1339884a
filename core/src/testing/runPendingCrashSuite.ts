import { describe, expect, it } from './vitestApi.js'
import { checkPendingCrash, type PendingCrashHarness } from './pendingCrashScenario.js'
import { checkTwoWriters } from './twoWritersScenario.js'

/**
 * Registers the crash suite of the document handle's pending-change count (docs/spec/storage.md, STORE-9.3) for
 * one DocStore implementation: the scripted session of {@link checkPendingCrash} is run once to count its store
 * writes, then once for every k, crashing after the k-th write; and the two-writer scenario of STORE-9.7
 * (`checkTwoWriters`). Call it at the top level of a vitest test file.
 */
export const runPendingCrashSuite = (
  name: string,
  harness: PendingCrashHarness,
  options: { readonly timeout?: number } = {},
): void => {
  describe(`pending count under crashes: ${name}`, () => {
    it(
      'STORE-9.3: a crash between any two store writes never leaves a stored local change uncounted, nor saved while the relay lacks it',
      async () => {
        const { writes, failures } = await checkPendingCrash(harness, Infinity)
        expect(failures).toEqual([])
        expect(writes).toBeGreaterThan(5)
        for (let k = 0; k <= writes; k++) expect((await checkPendingCrash(harness, k)).failures).toEqual([])
      },
      options.timeout ?? 120_000,
    )
    it('STORE-9.7, RULES-5.14: two writers of the store never lose each other’s count or client id', async () => {
      expect(await checkTwoWriters(harness)).toEqual([])
    })
  })
}
