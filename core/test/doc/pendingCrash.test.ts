import { MemoryDocStore, runPendingCrashSuite } from '../../src/testing/index.js'

runPendingCrashSuite('MemoryDocStore', { create: () => Promise.resolve(new MemoryDocStore()) })
