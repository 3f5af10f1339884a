#!/usr/bin/env -S node --max-semi-space-size=2
// The `weft` command. Run as an executable (`npx weft`, `./signaling/bin/weft.js`), Node starts with V8's young
// generation capped at 2 MiB per semi-space (default: grows to 16 MiB): a server holding thousands of idle
// connections otherwise carries 13-30 MB of young generation it grew while accepting them (about 5 KiB per
// connection at 5,000), for no measurable CPU gain on the relay's workloads (docs/guides/server.md, "Sizing").
// `node signaling/bin/weft.js` runs without the cap; put other flags on that command line to choose your own.
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
