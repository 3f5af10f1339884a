import { parentPort, threadId } from 'node:worker_threads'
import { CompactionTasks, type CompactionRequest } from './CompactionWorker.js'

// The compaction worker thread (RELAY-3.8): runs the relay's heavy compaction work on bytes it is handed, so the
// relay's event loop keeps serving every room meanwhile. One request at a time, answered in order.
const tasks = new CompactionTasks()
parentPort?.on('message', (request: CompactionRequest) => {
  const reply = tasks.handle(request, threadId)
  parentPort?.postMessage(reply, reply.transfer)
})
