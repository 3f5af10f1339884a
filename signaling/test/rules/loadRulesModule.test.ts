import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseServeArgs } from '../../src/cli/parseServeArgs.js'
import { loadRulesModule } from '../../src/relay/rules/loadRulesModule.js'
import { WeftServerError } from '../../src/WeftServerError.js'
import { boardRules } from './relayRules.js'

const fixture = fileURLToPath(new URL('./boardRulesModule.mjs', import.meta.url))

describe('weft serve --rules', () => {
  it('RULES-4.1: --rules (or WEFT_RULES) names the module; it needs the relay', () => {
    const args = parseServeArgs(['--rules', './rules.js'], {})
    expect(args.ok && !args.help && args.config.rulesModule).toBe('./rules.js')
    const fromEnv = parseServeArgs([], { WEFT_RULES: './r.js' })
    expect(fromEnv.ok && !fromEnv.help && fromEnv.config.rulesModule).toBe('./r.js')
    const none = parseServeArgs([], {})
    expect(none.ok && !none.help && none.config.rulesModule).toBeNull()
    const bad = parseServeArgs(['--rules', './r.js', '--no-relay'], {})
    expect(bad.ok ? '' : bad.reason).toMatch(/--rules needs the relay/)
  })

  it('RULES-4.1: a module whose default export is defineRules(...) rules every room', async () => {
    const option = (await loadRulesModule(fixture)) as Record<string, typeof boardRules>
    expect(Object.keys(option)).toEqual(['*'])
    // The same rules as the in-process fixture, loaded from a plain JavaScript module (as users write them).
    expect([option['*']!.schema.name, option['*']!.schema.version]).toEqual([
      boardRules.schema.name,
      boardRules.schema.version,
    ])
    expect(Object.keys(option['*']!)).toEqual(Object.keys(boardRules))
  })

  it('RULES-4.1: a module that cannot be loaded or exports no rules is an invalid argument', async () => {
    await expect(loadRulesModule('/nonexistent/rules.js')).rejects.toBeInstanceOf(WeftServerError)
    const empty = fileURLToPath(new URL('./noRulesModule.ts', import.meta.url))
    await expect(loadRulesModule(empty)).rejects.toThrow(/exports no rules/)
  })
})
