/**
 * The demo end to end: builds it once with Vite's JS API and runs `weft serve` as a child process (port 0, a temp
 * data dir, the build as its static dir), exactly as `npm start` serves it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../', import.meta.url))

/** Builds the demo into a fresh temp directory; resolves with its path. */
export const buildDemo = async (): Promise<string> => {
  const outDir = await mkdtemp(join(tmpdir(), 'weft-demo-dist-'))
  const { build } = await import('vite')
  await build({
    configFile: join(repo, 'demo/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  })
  return outDir
}

/** A running `weft serve`. */
export interface DemoServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly dataDir: string
  /** Stops the server (SIGTERM, graceful shutdown) and removes its data dir. */
  close(): Promise<void>
}

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  readonly staticDir: string
  /** false: `--no-relay` (signaling only). Default true. */
  readonly relay?: boolean
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))

/** Starts `node signaling/bin/weft.js serve --port 0` and resolves once it logs `listening` (with its port). */
export const startDemoServer = async ({
  staticDir,
  relay = true,
}: DemoServerOptions): Promise<DemoServer> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weft-demo-data-'))
  const args = ['signaling/bin/weft.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--static', staticDir]
  args.push(...(relay ? ['--data', join(dataDir, 'store')] : ['--no-relay']))
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()))
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
    child.once('exit', (code) =>
      reject(new Error(`weft serve exited (${code}) before listening: ${stderr.join('')}`)),
    )
  })
  child.stdout?.resume()
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir,
    close: async () => {
      child.kill('SIGTERM')
      await exited(child)
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
