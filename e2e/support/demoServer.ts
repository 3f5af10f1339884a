/**
 * The demo end to end: builds it once with Vite's JS API and runs `weft serve` as a child process (port 0, a temp
 * data dir, the build as its static dir), exactly as `npm start` serves it.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from '@playwright/test'
import { startWeftServer } from '../../providers/test/integration/support/weftServer.js'

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
  /**
   * Serve as `npm start` does: the demo's rules (`--rules demo/scripts/rules.mjs`) and its dev auth secret
   * (`--auth-secret`), so each page's dev token gives the rules a subject. Default false (an open server, no rules).
   */
  readonly rules?: boolean
}

/** The demo's public dev secret (demo/src/devAuth.json), as `npm start` gives it to `weft serve`. */
const devSecret = (): string =>
  (JSON.parse(readFileSync(join(repo, 'demo/src/devAuth.json'), 'utf8')) as { secret: string }).secret

/** Starts `signaling/bin/weft.js serve --port 0 --static <dist>` and resolves once it listens. */
export const startDemoServer = async ({
  staticDir,
  relay = true,
  rules = false,
}: DemoServerOptions): Promise<DemoServer> => {
  const server = await startWeftServer({
    staticDir,
    relay,
    ...(rules ? { rules: join(repo, 'demo/scripts/rules.mjs'), authSecret: devSecret() } : {}),
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    dataDir: server.dataDir,
    close: () => server.stop(),
  }
}

/** The demo one spec file serves: set once its `beforeAll` ran. */
export interface ServedDemo {
  /** The demo's build (a temp directory). */
  readonly dist: string
  readonly server: DemoServer
}

/**
 * Registers the spec file's `beforeAll` (builds the demo once, starts {@link startDemoServer} on it with `options`)
 * and `afterAll` (stops the server, removes the build); the returned object reads them once `beforeAll` ran.
 */
export const serveDemo = (options: Omit<DemoServerOptions, 'staticDir'> = {}): ServedDemo => {
  let dist: string | undefined
  let server: DemoServer | undefined
  test.beforeAll(async () => {
    test.setTimeout(120_000)
    dist = await buildDemo()
    server = await startDemoServer({ ...options, staticDir: dist })
  })
  test.afterAll(async () => {
    await server?.close()
    if (dist) await rm(dist, { recursive: true, force: true })
  })
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the demo is served once beforeAll ran')
    return value
  }
  return {
    get dist() {
      return started(dist)
    },
    get server() {
      return started(server)
    },
  }
}
