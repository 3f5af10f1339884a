import { describe, expect, it } from 'vitest'
import { parseServeArgs } from '../../src/cli/parseServeArgs.js'

describe('parseServeArgs', () => {
  it('CLI-2: defaults: loopback, port 4444, ./weft-data', () => {
    const r = parseServeArgs([], {})
    expect(r.ok && !r.help && r.config).toMatchObject({
      host: '127.0.0.1',
      port: 4444,
      dataDir: './weft-data',
    })
  })

  it('CLI-2: flags win over environment variables', () => {
    const r = parseServeArgs(['--port', '9000'], { WEFT_PORT: '8000', WEFT_HOST: '0.0.0.0', WEFT_DATA: '/d' })
    expect(r.ok && !r.help && r.config).toMatchObject({ host: '0.0.0.0', port: 9000, dataDir: '/d' })
  })

  it('CLI-2: --no-relay and WEFT_NO_RELAY disable the store', () => {
    const a = parseServeArgs(['--no-relay'], {})
    const b = parseServeArgs([], { WEFT_NO_RELAY: 'true' })
    expect(a.ok && !a.help && a.config.dataDir).toBeNull()
    expect(b.ok && !b.help && b.config.dataDir).toBeNull()
  })

  it.each([
    [['--port', 'x']],
    [['--port', '70000']],
    [['--bogus']],
    [['--commit-window-ms', '-1']],
    [['--auth-secret', 's', '--auth-public-key', 'k']],
    [['--log-level', 'loud']],
    [['stray']],
  ])('CLI-2: %j is refused with a reason, never a throw', (argv) => {
    const r = parseServeArgs(argv, {})
    expect(r.ok).toBe(false)
    expect(!r.ok && r.reason.length).toBeGreaterThan(0)
  })

  it('CLI-2, WS-PURGE-1: --workspace-retention-ms takes milliseconds or never (WEFT_WORKSPACE_RETENTION_MS too); default null (30 days)', () => {
    const of = (argv: string[], env: Record<string, string> = {}) => {
      const r = parseServeArgs(argv, env)
      return r.ok && !r.help ? r.config.workspaceRetentionMs : r.ok ? 'help' : r.reason
    }
    expect(of([])).toBeNull()
    expect(of(['--workspace-retention-ms', '86400000'])).toBe(86_400_000)
    expect(of(['--workspace-retention-ms', 'never'])).toBe(false)
    expect(of([], { WEFT_WORKSPACE_RETENTION_MS: '0' })).toBe(0)
    expect(of(['--workspace-retention-ms', '-5'])).toMatch(/workspace-retention-ms/)
    expect(of(['--workspace-retention-ms', '30d'])).toMatch(/workspace-retention-ms/)
    expect(of(['--no-relay', '--workspace-retention-ms', '5'])).toMatch(/needs the relay/)
  })

  it('CLI-2: --help', () => {
    expect(parseServeArgs(['--help'], {})).toEqual({ ok: true, help: true })
    expect(parseServeArgs(['-h'], {})).toEqual({ ok: true, help: true })
  })
})
