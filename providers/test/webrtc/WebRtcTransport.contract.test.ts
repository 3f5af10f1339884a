import { runTransportContract } from '@weft/core/testing'
import { afterAll, beforeAll, expect } from 'vitest'
import { PeerProcess } from './support/PeerProcess.js'
import { RemoteTransport } from './support/RemoteTransport.js'
import { startTestSignalingServer, type TestSignalingServer } from './support/testSignalingServer.js'

// The transport contract (TRANSPORT-1.x in docs/spec/sync-protocol.md) across two processes: each side is a real
// WebRtcTransport in its own child process, driven through a RemoteTransport proxy.
let server: TestSignalingServer
let procA: PeerProcess
let procB: PeerProcess
let room = 0

beforeAll(async () => {
  ;[server, procA, procB] = await Promise.all([
    startTestSignalingServer(),
    PeerProcess.spawn('weft'),
    PeerProcess.spawn('weft'),
  ])
})

afterAll(async () => {
  await Promise.all([procA?.kill(), procB?.kill()])
  await server?.close()
  expect([...(procA?.faults ?? []), ...(procB?.faults ?? [])]).toEqual([])
})

runTransportContract('WebRtcTransport (two processes)', {
  create: async () => {
    const options = { room: `contract-${++room}`, signaling: [server.url] }
    const [a, b] = await Promise.all([
      RemoteTransport.create(procA, options),
      RemoteTransport.create(procB, options),
    ])
    return { a, b }
  },
})
