#!/usr/bin/env node
// `npm start`: builds the demo (Vite) and runs `weft serve` on it with the embedded store, then prints the one URL
// to open. Extra arguments go to `weft serve` (e.g. `--port 8080`, `--host 0.0.0.0`, `--data /var/lib/weft`).
// The relay enforces the demo's rule (a locked shape is changed by its locker only: `--rules ./rules.mjs`), with
// the demo's public dev secret as `--auth-secret`, so that each browser's self-minted token gives the rules a subject
// (a demo arrangement, see demo/src/devToken.ts); `--auth-secret`, `--auth-public-key` or `--rules` of your own
// replace them.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const demo = fileURLToPath(new URL('../', import.meta.url))
const args = process.argv.slice(2)

if (!args.includes('--skip-build')) {
  const { build } = await import('vite')
  await build({ configFile: `${demo}vite.config.ts`, logLevel: 'warn' })
}
const serveArgs = args.filter((a) => a !== '--skip-build')
if (!serveArgs.includes('--static')) serveArgs.push('--static', `${demo}dist`)
if (!serveArgs.includes('--data') && !serveArgs.includes('--no-relay') && !process.env.WEFT_DATA) {
  serveArgs.push('--data', `${repo}weft-data`)
}
const given = (flag, env) => serveArgs.includes(flag) || process.env[env] !== undefined
const relay = !serveArgs.includes('--no-relay') && !process.env.WEFT_NO_RELAY
if (relay && !given('--rules', 'WEFT_RULES')) serveArgs.push('--rules', `${demo}scripts/rules.mjs`)
if (!given('--auth-secret', 'WEFT_AUTH_SECRET') && !given('--auth-public-key', 'WEFT_AUTH_PUBLIC_KEY')) {
  serveArgs.push('--auth-secret', JSON.parse(readFileSync(`${demo}src/devAuth.json`, 'utf8')).secret)
}

// Executed as `npx weft` runs it, so that the Node flags of its shebang apply.
const child = spawn(`${repo}signaling/bin/weft.js`, ['serve', ...serveArgs], {
  cwd: repo,
  stdio: ['inherit', 'pipe', 'inherit'],
})
createInterface({ input: child.stdout }).on('line', (line) => {
  process.stdout.write(`${line}\n`)
  try {
    const entry = JSON.parse(line)
    if (entry.msg === 'listening') {
      const host =
        entry.host === '0.0.0.0' || entry.host === '127.0.0.1' || entry.host === '::'
          ? 'localhost'
          : entry.host
      process.stdout.write(
        `\n  Weft demo: http://${host}:${entry.port}\n` +
          '  Open it in two browsers (or a normal and a private window) to collaborate. Ctrl+C stops the server.\n\n',
      )
    }
  } catch {
    // not a JSON log line
  }
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
