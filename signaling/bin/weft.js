#!/usr/bin/env node
// The `weft` command. Runs the compiled CLI from ../dist when the package was built; otherwise runs the
// TypeScript sources directly through tsx, resolving workspace packages to their `source` export condition.
import { existsSync } from 'node:fs'
import { register } from 'node:module'

const built = new URL('../dist/cli/main.js', import.meta.url)
let mainModule
if (existsSync(built)) {
  mainModule = await import(built.href)
} else {
  const { register: registerTsx } = await import('tsx/esm/api')
  registerTsx()
  // Registered after tsx, so it runs first: adds the `source` condition, then lets tsx resolve.
  register('./source-condition.js', import.meta.url)
  mainModule = await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
const code = await mainModule.main(process.argv.slice(2))
process.exit(code)
