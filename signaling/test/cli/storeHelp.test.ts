import { describe, expect, it } from 'vitest'
import { compactCommand, inspectCommand } from '../../src/cli/storeCommands.js'
import { spawnWeft } from '../helpers/spawnWeft.js'

const sink = () => {
  const chunks: string[] = []
  return { write: (s: string) => void chunks.push(s), text: () => chunks.join('') }
}

/** Runs `weft <args>` as a child process; resolves with its exit code and what it printed on stdout. */
const run = async (args: string[]) => {
  const p = spawnWeft(args)
  const code = await p.exited
  return { code, stdout: p.logs.map((l) => String(l['text'] ?? JSON.stringify(l))).join('\n') }
}

describe('weft inspect / weft compact: help and usage errors', { timeout: 30_000 }, () => {
  it('CLI-4.4 `weft inspect --help` and `weft compact --help` print their usage on stdout and exit 0', async () => {
    const [inspect, compact] = await Promise.all([run(['inspect', '--help']), run(['compact', '--help'])])
    expect(inspect.code).toBe(0)
    expect(inspect.stdout).toMatch(/^Usage: weft inspect <store> \[doc\] \[--json\]/)
    expect(compact.code).toBe(0)
    expect(compact.stdout).toMatch(/^Usage: weft compact <store> \[doc\]/)
  })

  it('CLI-4.4 -h anywhere is help; an unknown flag or a missing store is a usage error on stderr (exit 1)', async () => {
    const out = sink()
    const err = sink()
    expect(await inspectCommand(['some/dir', '-h'], out, err)).toBe(0)
    expect(out.text()).toMatch(/^Usage: weft inspect/)
    expect(err.text()).toBe('')

    const out2 = sink()
    const err2 = sink()
    expect(await compactCommand(['--jsno', 'some/dir'], out2, err2)).toBe(1)
    expect(out2.text()).toBe('')
    expect(err2.text()).toMatch(/^weft compact: .*--jsno/)
    expect(err2.text()).toContain('Usage: weft compact')

    const err3 = sink()
    expect(await compactCommand(['some/dir', '--json'], sink(), err3)).toBe(1) // --json is inspect's only
    const err4 = sink()
    expect(await inspectCommand(['--json'], sink(), err4)).toBe(1)
    expect(err4.text()).toMatch(/^weft inspect: missing <store>/)
    const err5 = sink()
    expect(await inspectCommand(['a', 'b', 'c'], sink(), err5)).toBe(1)
    expect(err5.text()).toMatch(/unexpected argument "c"/)
  })
})
