import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { WeftServerError } from '../../src/WeftServerError.js'
import { requireDriver, type ScaleOutDriver } from '../../src/scaleout/requireDriver.js'

const run = promisify(execFile)
const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url))

describe('scale-out drivers are optional (SCALE-5.1)', () => {
  it('SCALE-5.1: importing @weft/signaling and creating a server loads neither pg nor ioredis', async () => {
    // A fresh process: the test runner's own module cache may already hold the drivers.
    const script = `
      import { createRequire } from 'node:module'
      const { createWeftServer } = await import(${JSON.stringify(entry)})
      const server = createWeftServer({ relay: { dataDir: ${JSON.stringify(`/tmp/weft-driver-test-${process.pid}`)} } })
      await server.close()
      const cache = Object.keys(createRequire(import.meta.url).cache)
      console.log('DRIVERS ' + JSON.stringify(cache.filter((f) => /node_modules\\/(pg|ioredis)\\//.test(f))))
    `
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 60_000 },
    )
    const line = stdout.split('\n').find((l) => l.startsWith('DRIVERS '))
    expect(JSON.parse(line?.slice('DRIVERS '.length) ?? 'null')).toEqual([])
  }, 70_000)

  it('SCALE-5.1: a missing driver is a WeftServerError missing-dependency naming the install command', () => {
    let caught: unknown
    try {
      requireDriver('weft-no-such-driver' as ScaleOutDriver)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(WeftServerError)
    expect((caught as WeftServerError).code).toBe('missing-dependency')
    expect((caught as WeftServerError).message).toContain("'weft-no-such-driver'")
    expect((caught as WeftServerError).message).toContain('npm install pg ioredis')
  })

  it('SCALE-5.1: an installed driver loads', () => {
    expect(typeof requireDriver<{ Redis: unknown }>('ioredis').Redis).toBe('function')
    expect(typeof requireDriver<{ Pool: unknown }>('pg').Pool).toBe('function')
  })
})
