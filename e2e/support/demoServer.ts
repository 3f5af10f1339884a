/**
 * The demo end to end: builds it once with Vite's JS API and runs `weft serve` as a child process (port 0, a temp
 * data dir, the build as its static dir), exactly as `npm start` serves it.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
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
