/**
 * `@weft/core/testing`: in-memory transports and stores, and the contract suites every implementation runs.
 * @module @weft/core/testing
 */
export { MemoryNetwork, MemoryTransport, createMemoryPair, type Fault } from '../transport/MemoryTransport.js'
export { runTransportContract, type TransportContractHarness } from './runTransportContract.js'
export { MemoryDocStore } from './MemoryDocStore.js'
export { runDocStoreContract, type DocStoreContractOptions } from './runDocStoreContract.js'
export { CrashingDocStore } from './CrashingDocStore.js'
export { runPendingCrashSuite } from './runPendingCrashSuite.js'
export { writerValue } from './writerValues.js'
export {
  checkPendingCrash,
  type PendingCrashHarness,
  type PendingCrashOutcome,
} from './pendingCrashScenario.js'
export { openEpochPeer, type EpochPeerParts, type OpenEpochPeerOptions } from './openEpochPeer.js'
export { draggedWhiteboard, freshWhiteboardCopy, type WhiteboardShapes } from './whiteboardWorkload.js'
export { seededRandom, randomInt, randomPick, type Rand } from './seededRandom.js'
