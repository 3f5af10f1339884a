import { describe, expect, it } from 'vitest'
import { parseServeArgs } from '../../src/cli/parseServeArgs.js'

describe('weft serve: auth tolerance and per-address flags', () => {
  it('CLI-2, AUTH-7, CONN-10: defaults are null (the server defaults) and no trusted proxy', () => {
    const r = parseServeArgs([], {})
    expect(r.ok && !r.help && r.config).toMatchObject({
      authClockToleranceSeconds: null,
      trustProxy: null,
      maxConnectionsPerIp: null,
      upgradesPerIpPerSecond: null,
      upgradeBurstPerIp: null,
    })
  })

  it('CLI-2, AUTH-7, CONN-10: flags and environment variables', () => {
    const r = parseServeArgs(
      ['--auth-clock-tolerance', '2', '--trust-proxy', '10.0.0.0/8, ::1', '--max-connections-per-ip', '50'],
      {
        WEFT_UPGRADES_PER_IP_PER_SECOND: '5',
        WEFT_UPGRADE_BURST_PER_IP: '30',
        WEFT_AUTH_CLOCK_TOLERANCE: '9',
      },
    )
    expect(r.ok && !r.help && r.config).toMatchObject({
      authClockToleranceSeconds: 2,
      trustProxy: ['10.0.0.0/8', '::1'],
      maxConnectionsPerIp: 50,
      upgradesPerIpPerSecond: 5,
      upgradeBurstPerIp: 30,
    })
  })

  it('CLI-2, CONN-10.1: --trust-proxy none trusts no proxy, not even loopback', () => {
    const r = parseServeArgs(['--trust-proxy', 'none'], {})
    expect(r.ok && !r.help && r.config.trustProxy).toEqual([])
  })

  it.each([
    [['--auth-clock-tolerance', '-1']],
    [['--auth-clock-tolerance', 'soon']],
    [['--trust-proxy', 'proxy.example']],
    [['--trust-proxy', '10.0.0.0/40']],
    [['--max-connections-per-ip', '0']],
    [['--upgrades-per-ip-per-second', 'x']],
  ])('CLI-2: %j is refused with a reason', (argv) => {
    const r = parseServeArgs(argv, {})
    expect(r.ok).toBe(false)
  })
})
