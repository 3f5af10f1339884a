import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'
import { runDocStoreContract } from '../../src/testing/runDocStoreContract.js'

runDocStoreContract('MemoryDocStore', () => new MemoryDocStore(), { workspaceIndex: true })
