import { describe, expect, it } from 'vitest'
import { parseServeArgs, serveHelp } from '../../src/cli/parseServeArgs.js'

describe('weft serve scale-out flags', () => {
  it('CLI-1: --redis and --postgres (or WEFT_REDIS_URL and WEFT_POSTGRES_URL) select scale-out mode', () => {
    const flags = parseServeArgs(['--redis', '/tmp/r.sock', '--postgres', 'postgresql://pg/weft'], {})
    expect(flags.ok && !flags.help && flags.config).toMatchObject({
      redisUrl: '/tmp/r.sock',
      postgresUrl: 'postgresql://pg/weft',
      nodeTimeoutMs: null,
    })
    const env = parseServeArgs(['--node-timeout-ms', '1500'], {
      WEFT_REDIS_URL: 'redis://r:6379',
      WEFT_POSTGRES_URL: 'postgresql://pg/weft',
    })
    expect(env.ok && !env.help && env.config).toMatchObject({
      redisUrl: 'redis://r:6379',
      postgresUrl: 'postgresql://pg/weft',
      nodeTimeoutMs: 1500,
    })
    const single = parseServeArgs([], {})
    expect(single.ok && !single.help && single.config).toMatchObject({ redisUrl: null, postgresUrl: null })
  })

  it('CLI-1: one without the other, or with --no-relay, is refused; --help lists them', () => {
    const half = parseServeArgs(['--redis', 'redis://r'], {})
    expect(half).toEqual({ ok: false, reason: 'scale-out needs both --redis and --postgres' })
    const noRelay = parseServeArgs(['--no-relay', '--redis', 'redis://r', '--postgres', 'postgresql://p'], {})
    expect(noRelay.ok).toBe(false)
    expect(serveHelp()).toMatch(/--redis <url>[\s\S]*WEFT_REDIS_URL/)
    expect(serveHelp()).toMatch(/--postgres <url>[\s\S]*WEFT_POSTGRES_URL/)
  })
})
