import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { MemoryNetwork, runTransportContract } from '@weft/core/testing'
import { WebRtcTransport } from '../../src/webrtc/WebRtcTransport.js'
import { DocMux } from '../../src/workspace/DocMux.js'
import { WorkspaceWebRtc, workspaceRoom } from '../../src/workspace/WorkspaceWebRtc.js'

// DocMux's document transports over an in-memory shared transport (manual delivery): the Transport contract.
let network = new MemoryNetwork()
runTransportContract('DocMux document transport', {
  create: async () => {
    network = new MemoryNetwork()
    const baseA = network.transport('a')
    const baseB = network.transport('b')
    network.link(baseA, baseB)
    const a = new DocMux('w', baseA)
    const b = new DocMux('w', baseB)
    return {
      a: a.transportFor('doc'),
      b: b.transportFor('doc'),
      cleanup: () => {
        a.close()
        b.close()
      },
    }
  },
  flush: () => {
    network.flush()
  },
})

/** Never used: nothing here connects (no native WebRTC in this process). */
const wrtc = { RTCPeerConnection: class {} as unknown as typeof RTCPeerConnection }

describe('WorkspaceWebRtc', () => {
  it('WS-PEER-5: one WebRtcTransport for the room W/.workspace; each document a transport of room W/D', () => {
    const mesh = new WorkspaceWebRtc({
      workspace: 'team',
      signaling: ['ws://127.0.0.1:9'],
      password: 'secret',
      wrtc,
      WebSocketPolyfill: WebSocket,
    })
    expect(mesh.base).toBeInstanceOf(WebRtcTransport)
    expect((mesh.base as WebRtcTransport).room).toBe(workspaceRoom('team'))
    expect(workspaceRoom('team')).toBe('team/.workspace')
    const notes = mesh.transportFor('notes')
    expect(notes.room).toBe('team/notes')
    expect(notes.kind).toBe('webrtc')
    expect(notes.maxMessageSize).toBeLessThan(mesh.base.maxMessageSize!)
    expect(() => mesh.transportFor('notes')).toThrow(/already has a transport/)
    expect(() => mesh.transportFor('~bad')).toThrow(/not a document id/)
    mesh.close()
    expect(() => mesh.transportFor('other')).toThrow(/closed/)
    expect(
      () =>
        new WorkspaceWebRtc({
          workspace: 'a/b',
          signaling: ['ws://127.0.0.1:9'],
          wrtc,
          WebSocketPolyfill: WebSocket,
        }),
    ).toThrow(/not a workspace id/)
  })
})
