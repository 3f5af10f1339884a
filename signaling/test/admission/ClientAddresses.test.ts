import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { AdmissionControl } from '../../src/admission/AdmissionControl.js'
import { ClientAddresses, addressKey, isLoopback } from '../../src/admission/ClientAddresses.js'

/** Just what {@link ClientAddresses.of} reads from a request. */
const request = (remoteAddress: string, forwardedFor?: string | string[]): IncomingMessage =>
  ({
    socket: { remoteAddress },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  }) as unknown as IncomingMessage

describe('ClientAddresses (CONN-10.1)', () => {
  it('CONN-10.1: by default only loopback is a trusted proxy; a remote peer is the client, its header ignored', () => {
    const addresses = new ClientAddresses()
    expect(addresses.of(request('203.0.113.9', '198.51.100.1'))).toBe('203.0.113.9')
    expect(addresses.of(request('::ffff:203.0.113.9'))).toBe('203.0.113.9')
    expect(addresses.of(request('127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1')
    expect(addresses.of(request('::1', '198.51.100.1'))).toBe('198.51.100.1')
    expect(new ClientAddresses([]).of(request('127.0.0.1', '198.51.100.1'))).toBe('127.0.0.1')
  })

  it('CONN-10.1: an untrusted peer cannot choose its address by sending the header', () => {
    const addresses = new ClientAddresses(['10.0.0.1'])
    expect(addresses.of(request('203.0.113.9', '198.51.100.1'))).toBe('203.0.113.9')
  })

  it('CONN-10.1: behind trusted proxies the first untrusted hop from the right is the client', () => {
    const addresses = new ClientAddresses(['10.0.0.0/8', '::1'])
    // The client wrote a fake first hop; the proxies appended the real one.
    expect(addresses.of(request('10.0.0.1', '1.1.1.1, 198.51.100.7'))).toBe('198.51.100.7')
    expect(addresses.of(request('10.0.0.1', ['1.1.1.1', '198.51.100.7, 10.0.0.2']))).toBe('198.51.100.7')
    expect(addresses.of(request('::1', '198.51.100.7:4711'))).toBe('198.51.100.7')
    expect(addresses.of(request('::1', '[2001:db8::1]:443'))).toBe('2001:db8::1')
    expect(addresses.of(request('::ffff:10.1.2.3', '::ffff:198.51.100.7'))).toBe('198.51.100.7')
    // Every hop trusted: the leftmost one. No header: the proxy itself.
    expect(addresses.of(request('10.0.0.1', '10.0.0.3, 10.0.0.2'))).toBe('10.0.0.3')
    expect(addresses.of(request('10.0.0.1'))).toBe('10.0.0.1')
  })

  it('CONN-10.1: a malformed hop stops the walk at the last trusted address', () => {
    const addresses = new ClientAddresses(['10.0.0.0/8'])
    expect(addresses.of(request('10.0.0.1', '198.51.100.7, unknown, 10.0.0.2'))).toBe('10.0.0.2')
    expect(addresses.of(request('10.0.0.1', 'garbage'))).toBe('10.0.0.1')
  })

  it.each(['not-an-ip', '10.0.0.0/33', '10.0.0.0/x', '::/129', '10.0.0.1/8/1'])(
    'CONN-10.1: a trusted proxy entry %j that is no address or range is refused',
    (entry) => {
      expect(() => new ClientAddresses([entry])).toThrow(/trusted proxy/)
    },
  )

  it('CONN-10: loopback is 127.0.0.0/8 and ::1', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(['128.0.0.1', '::2', '::', '', 'x', '10.127.0.1'].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ])
  })

  it('CONN-10: IPv6 addresses are limited by their /64, IPv4 addresses one by one', () => {
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9')
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:0DB8:0001:0002:ffff:0:0:1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
    expect(addressKey('64:ff9b::203.0.113.9')).toBe('64:ff9b:0:0::/64')
  })
})

describe('AdmissionControl (CONN-10)', () => {
  const limits = { maxConnectionsPerIp: 2, upgradesPerIpPerSecond: 1, upgradeBurstPerIp: 3 }

  it('CONN-10: an address gets its burst of upgrades, then one per 1/rate seconds', () => {
    let now = 0
    const admission = new AdmissionControl(limits, () => now)
    for (let i = 0; i < 3; i++) {
      expect(admission.admit('198.51.100.7')).toBe('ok')
      admission.release('198.51.100.7')
    }
    expect(admission.admit('198.51.100.7')).toBe('too-many-upgrades')
    expect(admission.admit('198.51.100.8')).toBe('ok')
    now += 1000
    expect(admission.admit('198.51.100.7')).toBe('ok')
    expect(admission.admit('198.51.100.7')).toBe('too-many-upgrades')
  })

  it('CONN-10: an address holds at most maxConnectionsPerIp connections; a release frees one', () => {
    const admission = new AdmissionControl({ ...limits, upgradeBurstPerIp: 100 }, () => 0)
    expect(admission.admit('2001:db8::1')).toBe('ok')
    // Another address of the same /64 counts against the same cap.
    expect(admission.admit('2001:db8::2')).toBe('ok')
    expect(admission.admit('2001:db8::3')).toBe('too-many-connections')
    expect(admission.connectionsOf('2001:db8::99')).toBe(2)
    admission.release('2001:db8::1')
    expect(admission.admit('2001:db8::3')).toBe('ok')
  })

  it('CONN-10.2: loopback clients (the machine itself) are not limited', () => {
    const admission = new AdmissionControl({ ...limits, upgradeBurstPerIp: 1 }, () => 0)
    for (let i = 0; i < 10; i++) expect(admission.admit(i % 2 ? '127.0.0.1' : '::1')).toBe('ok')
    admission.release('127.0.0.1')
    expect(admission.size).toBe(0)
  })

  it('CONN-10: addresses without connections and with a full bucket are forgotten', () => {
    let now = 0
    const admission = new AdmissionControl(limits, () => now)
    expect(admission.admit('198.51.100.7')).toBe('ok')
    expect(admission.admit('198.51.100.8')).toBe('ok')
    admission.release('198.51.100.8')
    admission.sweep()
    expect(admission.size).toBe(2)
    now += 10_000
    admission.sweep()
    expect(admission.size).toBe(1)
    admission.release('198.51.100.7')
    admission.sweep()
    expect(admission.size).toBe(0)
  })
})
