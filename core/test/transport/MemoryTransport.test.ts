import { describe, expect, it } from 'vitest'
import { MemoryNetwork, runTransportContract } from '../../src/testing/index.js'

let network = new MemoryNetwork()
let n = 0
runTransportContract('MemoryTransport', {
  create: async () => {
    network = new MemoryNetwork()
    const a = network.transport(`a${n}`)
    const b = network.transport(`b${n++}`)
    network.link(a, b)
    return { a, b }
  },
  flush: () => network.flush(),
})

describe('MemoryNetwork', () => {
  it('TRANSPORT-2.1 messages of a cut link are never delivered, even after relinking', () => {
    const net = new MemoryNetwork()
    const a = net.transport('a')
    const b = net.transport('b')
    net.link(a, b)
    a.connect()
    b.connect()
    const got: number[] = []
    b.on('message', ({ data }) => got.push(data[0] ?? -1))
    a.send(Uint8Array.of(1))
    net.cut(a, b)
    net.link(a, b)
    a.send(Uint8Array.of(2))
    net.flush()
    expect(got).toEqual([2])
  })

  it('TRANSPORT-2.2 deliver() can reorder, drop and duplicate', () => {
    const net = new MemoryNetwork()
    const a = net.transport('a')
    const b = net.transport('b')
    net.link(a, b)
    a.connect()
    b.connect()
    const got: number[] = []
    b.on('message', ({ data }) => got.push(data[0] ?? -1))
    for (const v of [1, 2, 3]) a.send(Uint8Array.of(v))
    net.deliver(2)
    net.deliver(0, 'drop')
    net.deliver(0, 'duplicate')
    expect(got).toEqual([3, 2, 2])
    expect(net.pending).toBe(0)
  })

  it('TRANSPORT-2.3 a transport with a size limit refuses larger messages', () => {
    const net = new MemoryNetwork()
    const a = net.transport('a', { maxMessageSize: 10 })
    const b = net.transport('b')
    net.link(a, b)
    a.connect()
    b.connect()
    expect(() => a.send(new Uint8Array(11))).toThrow(/exceeds/)
  })
})
