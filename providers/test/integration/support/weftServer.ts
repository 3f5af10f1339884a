/**
 * Runs a real `weft serve` as a child process (the CLI, not an import: providers never depend on signaling) on an
 * OS-chosen port with a temp data dir, and resolves once it logs `listening`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../../../', import.meta.url))

export interface WeftServer {
  readonly port: number
  readonly relayUrl: string
  readonly child: ChildProcess
  /** SIGTERM (graceful), then removes the data dir unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>
  readonly dataDir: string
}

export const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))

/** Options of {@link startWeftServer}. */
export interface WeftServerOptions {
  /** Reuse a data dir (a restart); default a fresh temp dir. */
  readonly dataDir?: string
  /** Default 0 (the OS chooses). */
  readonly port?: number
  /** Serve this directory at `/` (`--static`). */
  readonly staticDir?: string
  /** false: `--no-relay` (signaling only). Default true. */
  readonly relay?: boolean
  /** Require HS256 JWTs signed with this secret (`--auth-secret`). */
  readonly authSecret?: string
  /** A rules module (`--rules`, docs/guides/rules.md). */
  readonly rules?: string
  /** More flags for `weft serve` (e.g. `--epoch-reset` and its thresholds). */
  readonly args?: readonly string[]
}

/** Also used by the browser tests (e2e/support/demoServer.ts). */
export const startWeftServer = async (options: WeftServerOptions = {}): Promise<WeftServer> => {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'weft-int-')))
  const args = ['serve', '--host', '127.0.0.1', '--port', String(options.port ?? 0)]
  if (options.staticDir !== undefined) args.push('--static', options.staticDir)
  if (options.authSecret !== undefined) args.push('--auth-secret', options.authSecret)
  if (options.rules !== undefined) args.push('--rules', options.rules)
  args.push(...(options.args ?? []))
  args.push(...(options.relay === false ? ['--no-relay'] : ['--data', join(dataDir, 'store')]))
  // Executed as `npx weft` runs it (its shebang's Node flags apply).
  const child = spawn(join(repo, 'signaling/bin/weft.js'), args, {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WEFT_LOG_LEVEL: 'info' },
  })
  const stderr: string[] = []
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()))
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number }
        if (entry.msg === 'listening' && typeof entry.port === 'number') resolve(entry.port)
      } catch {
        // not a log line
      }
    })
    child.once('exit', (code) => reject(new Error(`weft serve exited (${code}): ${stderr.join('')}`)))
  })
  child.stdout?.resume()
  return {
    port,
    relayUrl: `ws://127.0.0.1:${port}/relay`,
    child,
    dataDir,
    stop: async ({ keepData = false } = {}) => {
      child.kill('SIGTERM')
      await exited(child)
      if (!keepData) await rm(dataDir, { recursive: true, force: true })
    },
  }
}
