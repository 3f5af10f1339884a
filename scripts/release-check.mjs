#!/usr/bin/env node
// `npm run release:check`: the four packages as a user gets them. Packs every package (each `prepack` builds it),
// checks what each tarball holds, installs the tarballs into two clean apps outside the repository, and uses them:
//   browser app: @weft/core + @weft/providers + yjs. The install must bring no native module, no install script and
//     none of the Node-only packages; Vite builds a browser bundle of the providers with no Node built-in in it.
//   node app: + @weft/signaling, @weft/sqlite-store, ws. `npx weft serve` runs from that install (without pg and
//     ioredis, which only scale-out needs: asking for scale-out names them), and two Node peers (openDoc over
//     SqliteDocStore from @weft/providers/node and WebSocketTransport) sync a document through it.
// Prints the browser install's figures (packages, MB, seconds). Exit code 0 when every check passed.
//
// Packing happens in a staged copy (a temp dir), so the repository gets no dist/ (bin/weft.js prefers a dist/ over
// the sources). A package already built in the repository (`npm run build`, as CI does) is copied with its build
// info, so the staged build is incremental.
//
// Options: --keep (keep the temp dir), --full (let better-sqlite3 run its install script in the node app instead of
// reusing the repository's compiled module: slow where it compiles from source).
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const PACKAGES = ['core', 'sqlite-store', 'providers', 'signaling']
/** What a browser-only install must not contain. */
const NODE_ONLY = [
  'better-sqlite3',
  '@weft/sqlite-store',
  'ws',
  '@roamhq/wrtc',
  'bonjour-service',
  'pg',
  'ioredis',
]
const args = new Set(process.argv.slice(2))
const t0 = performance.now()
const work = mkdtempSync(join(tmpdir(), 'weft-release-'))
const failures = []
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_update_notifier: 'false' }

const log = (msg) => console.log(`[release:check +${((performance.now() - t0) / 1000).toFixed(1)} s] ${msg}`)
const check = (ok, what) => {
  if (ok) log(`ok   ${what}`)
  else {
    log(`FAIL ${what}`)
    failures.push(what)
  }
}
const sh = (cmd, cmdArgs, cwd, extra = {}) => {
  const r = spawnSync(cmd, cmdArgs, { cwd, env: { ...env, ...extra }, encoding: 'utf8' })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${cmdArgs.join(' ')} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}`.trimEnd())
  }
  return r.stdout
}
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))
const duBytes = (dir) => {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) total += duBytes(p)
    else if (entry.isFile()) total += statSync(p).size
  }
  return total
}
/** Every installed package of an app (from its lockfile), with its install-script flag. */
const installed = (app) =>
  Object.entries(readJson(join(app, 'package-lock.json')).packages)
    .filter(([path]) => path.startsWith('node_modules/'))
    .map(([path, meta]) => ({ name: path.slice(path.lastIndexOf('node_modules/') + 13), ...meta }))
const findFiles = (dir, test, out = []) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) findFiles(p, test, out)
    else if (test(entry.name)) out.push(p)
  }
  return out
}

// 1. Stage and pack.
const stage = () => {
  const staged = join(work, 'stage')
  for (const file of ['tsconfig.base.json', 'LICENSE']) {
    cpSync(join(ROOT, file), join(staged, file), { preserveTimestamps: true })
  }
  for (const pkg of PACKAGES) {
    const built = existsSync(join(ROOT, pkg, 'dist'))
    // Timestamps kept: tsc -b compares them, so an up-to-date build stays up to date in the copy.
    cpSync(join(ROOT, pkg), join(staged, pkg), {
      recursive: true,
      preserveTimestamps: true,
      filter: (src) => {
        const rel = relative(join(ROOT, pkg), src)
        const top = rel.split(/[\\/]/)[0]
        if (top === 'node_modules' || top === 'test') return false
        // Build info without its output would make `tsc -b` skip the build.
        if (!built && (top === 'dist' || rel.endsWith('.tsbuildinfo'))) return false
        return true
      },
    })
  }
  // node_modules: the repository's, except the workspace links, which point at the staged packages.
  const nm = join(staged, 'node_modules')
  mkdirSync(join(nm, '@weft'), { recursive: true })
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry !== '@weft') symlinkSync(join(ROOT, 'node_modules', entry), join(nm, entry))
  }
  for (const pkg of PACKAGES) symlinkSync(join('..', '..', pkg), join(nm, '@weft', pkg))
  return staged
}

const pack = (staged) => {
  const dest = join(work, 'tarballs')
  mkdirSync(dest)
  const tarballs = {}
  for (const pkg of PACKAGES) {
    const out = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dest], join(staged, pkg)))
    const { filename, files, size } = out[0]
    tarballs[pkg] = join(dest, filename)
    const paths = new Set(files.map((f) => f.path))
    const missing = ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts'].filter(
      (f) => !paths.has(f),
    )
    if (pkg === 'signaling') missing.push(...['bin/weft.js', 'dist/cli/main.js'].filter((f) => !paths.has(f)))
    check(
      missing.length === 0,
      `${filename} (${(size / 1024).toFixed(0)} KiB) has ${missing.join(', ') || 'README, LICENSE, dist and types'}${missing.length ? ' MISSING' : ''}`,
    )
    const stray = [...paths].filter((f) => /(^|\/)test\/|\.test\.|tsbuildinfo/.test(f))
    check(
      stray.length === 0,
      `${filename} ships no tests or build info${stray.length ? `: ${stray.slice(0, 5).join(', ')}` : ''}`,
    )
    const manifest = readJson(join(staged, pkg, 'package.json'))
    const metaMissing = ['repository', 'homepage', 'engines', 'license'].filter((k) => !manifest[k])
    check(
      metaMissing.length === 0,
      `${manifest.name} has repository, homepage, engines, license${metaMissing.length ? ` (missing ${metaMissing.join(', ')})` : ''}`,
    )
  }
  return tarballs
}

/** A clean app outside the repository: `deps` from the tarballs (and overrides, so nothing comes from a registry). */
const makeApp = (name, tarballs, deps, extraDeps = {}) => {
  const app = join(work, name)
  mkdirSync(app)
  const spec = (pkg) => `file:${tarballs[pkg]}`
  const overrides = Object.fromEntries(PACKAGES.map((pkg) => [`@weft/${pkg}`, spec(pkg)]))
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        dependencies: {
          ...Object.fromEntries(deps.map((p) => [`@weft/${p}`, spec(p)])),
          yjs: '^13.6.33',
          ...extraDeps,
        },
        // Only the packages the app depends on may be overridden (npm refuses others that conflict); a tarball
        // dependency must still resolve nested @weft/* to the tarballs, not to a registry.
        overrides: Object.fromEntries(Object.entries(overrides).filter(([k]) => deps.includes(k.slice(6)))),
      },
      null,
      2,
    ),
  )
  return app
}
const npmInstall = (app, extra = []) => {
  const started = performance.now()
  sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...extra], app)
  return (performance.now() - started) / 1000
}

// 2. Browser app.
const browserApp = async (tarballs) => {
  const app = makeApp('browser-app', tarballs, ['core', 'providers'])
  const seconds = npmInstall(app)
  const pkgs = installed(app)
  const bytes = duBytes(join(app, 'node_modules'))
  log(`browser app install: ${pkgs.length} packages, ${(bytes / 1e6).toFixed(1)} MB, ${seconds.toFixed(1)} s`)
  const natives = findFiles(join(app, 'node_modules'), (n) => n.endsWith('.node') || n === 'binding.gyp')
  check(
    natives.length === 0,
    `browser app: no native module${natives.length ? `: ${natives.join(', ')}` : ''}`,
  )
  const scripts = pkgs.filter((p) => p.hasInstallScript).map((p) => p.name)
  check(
    scripts.length === 0,
    `browser app: no install script${scripts.length ? `: ${scripts.join(', ')}` : ''}`,
  )
  const nodeOnly = pkgs.filter((p) => NODE_ONLY.includes(p.name)).map((p) => p.name)
  check(
    nodeOnly.length === 0,
    `browser app: no Node-only package${nodeOnly.length ? `: ${nodeOnly.join(', ')}` : ''}`,
  )

  writeFileSync(
    join(app, 'index.html'),
    '<!doctype html><div id="app"></div><script type="module" src="/main.js"></script>\n',
  )
  writeFileSync(
    join(app, 'main.js'),
    [
      "import { openDoc, WebSocketTransport, WebRtcTransport, BroadcastChannelTransport } from '@weft/providers'",
      "import { IndexedDbDocStore } from '@weft/providers/indexeddb'",
      "import { s, defineSchema } from '@weft/core'",
      "const board = defineSchema({ name: 'board', version: 1, root: { shapes: s.collection(s.record({ x: s.number() })) } })",
      'const doc = await openDoc({',
      "  docId: 'release-check',",
      '  store: new IndexedDbDocStore(),',
      "  relay: new WebSocketTransport({ url: 'ws://localhost:4444/relay', room: 'release-check' }),",
      "  transports: [new BroadcastChannelTransport({ room: 'release-check' })],",
      '})',
      'globalThis.weft = { doc, board, WebRtcTransport }',
      '',
    ].join('\n'),
  )
  const { build } = await import('vite')
  const warnings = []
  await build({
    root: app,
    configFile: false,
    logLevel: 'silent',
    build: {
      outDir: join(app, 'dist'),
      target: 'es2022',
      rollupOptions: { onwarn: (w) => warnings.push(w.message) },
    },
    customLogger: {
      info() {},
      warn: (msg) => warnings.push(msg),
      warnOnce: (msg) => warnings.push(msg),
      error: (msg) => warnings.push(msg),
      clearScreen() {},
      hasErrorLogged: () => false,
      hasWarned: false,
    },
  })
  const js = findFiles(join(app, 'dist'), (n) => n.endsWith('.js'))
  const bundle = js.map((f) => readFileSync(f, 'utf8')).join('\n')
  const kb = Buffer.byteLength(bundle) / 1024
  check(
    js.length > 0 && bundle.includes('release-check'),
    `vite builds the browser app (${kb.toFixed(0)} KiB of JS)`,
  )
  const nodeWarnings = warnings.filter((w) => /externalized for browser|node:|Node\.js/i.test(w))
  check(
    nodeWarnings.length === 0,
    `browser bundle needs no Node built-in${nodeWarnings.length ? `: ${nodeWarnings[0]}` : ''}`,
  )
  return { packages: pkgs.length, mb: bytes / 1e6, seconds }
}

// 3. Node app: `npx weft serve` from the install, and two Node peers syncing through it.
const startServe = (app, serveArgs) =>
  new Promise((resolvePort, reject) => {
    // Its own process group: npx runs the server as a child, which a signal to npx alone would leave running.
    const child = spawn('npx', ['--no-install', 'weft', 'serve', ...serveArgs], {
      cwd: app,
      env,
      detached: true,
    })
    let out = ''
    let err = ''
    const timer = setTimeout(
      () => reject(new Error(`weft serve did not start in 60 s:\n${out}\n${err}`)),
      60_000,
    )
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d) => {
      out += d
      const m = /"port":(\d+)[^\n]*"msg":"listening"/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolvePort({ child, port: Number(m[1]) })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`weft serve exited with ${code}:\n${out}\n${err}`))
    })
  })

/** Stops `npx weft serve` and the server it started (the whole process group), and waits until it exited. */
const stopServe = async (child) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  try {
    process.kill(-child.pid, 'SIGTERM')
  } catch {
    child.kill('SIGTERM')
  }
  await exited
}

const PEER = `
// A Node peer from the installed packages: openDoc over SqliteDocStore (@weft/providers/node) and the relay.
import { WebSocket } from 'ws'
import { openDoc, WebSocketTransport } from '@weft/providers'
import { SqliteDocStore } from '@weft/providers/node'
const [url, path, text] = process.argv.slice(2)
const doc = await openDoc({
  docId: 'release-check',
  store: new SqliteDocStore({ path }),
  relay: new WebSocketTransport({ url, room: 'release-check', WebSocketPolyfill: WebSocket }),
})
const body = doc.doc.getText('body')
if (text) body.insert(0, text)
const done = () => doc.status === 'synced' && doc.pendingChanges === 0 && (text || body.length > 0)
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('not synced in 30 s: ' + doc.status)), 30_000)
  const tryDone = () => done() && (clearTimeout(timer), resolve())
  doc.on('status', tryDone)
  body.observe(tryDone)
  tryDone()
})
console.log(JSON.stringify({ text: body.toString() }))
process.exit(0)
`

const nodeApp = async (tarballs) => {
  const app = makeApp('node-app', tarballs, ['core', 'providers', 'sqlite-store', 'signaling'], {
    ws: readJson(join(ROOT, 'node_modules', 'ws', 'package.json')).version,
    '@types/node': readJson(join(ROOT, 'node_modules', '@types', 'node', 'package.json')).version,
  })
  // better-sqlite3 compiles from source where npm finds no prebuilt binary: unless --full, the app gets the
  // version the repository has and its compiled module, and skips install scripts.
  const sqlite = join(ROOT, 'node_modules', 'better-sqlite3')
  const reuse = !args.has('--full') && existsSync(join(sqlite, 'build', 'Release', 'better_sqlite3.node'))
  if (reuse) {
    const manifest = readJson(join(app, 'package.json'))
    manifest.overrides['better-sqlite3'] = readJson(join(sqlite, 'package.json')).version
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2))
  }
  const seconds = npmInstall(app, reuse ? ['--ignore-scripts'] : [])
  if (reuse)
    cpSync(join(sqlite, 'build'), join(app, 'node_modules', 'better-sqlite3', 'build'), { recursive: true })
  log(
    `node app install: ${installed(app).length} packages, ${seconds.toFixed(1)} s${reuse ? ' (reused better-sqlite3 build)' : ''}`,
  )
  const names = new Set(installed(app).map((p) => p.name))
  check(
    !names.has('pg') && !names.has('ioredis'),
    'node app: pg and ioredis are not installed (scale-out only)',
  )

  // Scale-out asked for without its drivers: a clear error naming them.
  const scale = spawnSync(
    'npx',
    [
      '--no-install',
      'weft',
      'serve',
      '--port',
      '0',
      '--redis',
      'redis://127.0.0.1:1',
      '--postgres',
      'postgresql://127.0.0.1:1/x',
    ],
    { cwd: app, env, encoding: 'utf8', timeout: 60_000 },
  )
  check(
    scale.status !== 0 && scale.stderr.includes('npm install pg ioredis'),
    `weft serve --redis --postgres without the drivers: ${(scale.stderr.trim().split('\n')[0] ?? '').slice(0, 160)}`,
  )

  // Every published entry point imports, and type-checks under strict settings, in an app that has none of the
  // repository's dev dependencies (vitest) and none of scale-out's optional drivers or their types (pg, ioredis).
  const entries = PACKAGES.flatMap((dir) => {
    const manifest = readJson(join(ROOT, dir, 'package.json'))
    return Object.keys(manifest.exports ?? {}).map((key) => manifest.name + key.slice(1))
  })
  writeFileSync(
    join(app, 'entries.mjs'),
    `for (const e of ${JSON.stringify(entries)}) await import(e).catch((err) => { console.log(e + ': ' + err.message); process.exitCode = 1 })\n`,
  )
  const imported = spawnSync(process.execPath, ['entries.mjs'], { cwd: app, env, encoding: 'utf8' })
  check(
    imported.status === 0,
    `node app: every entry point imports without dev dependencies (${entries.length})${imported.status === 0 ? '' : `: ${imported.stdout.trim().split('\n')[0]}`}`,
  )
  writeFileSync(join(app, 'entries.ts'), entries.map((e, i) => `export * as e${i} from '${e}'\n`).join(''))
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        types: ['node'],
      },
      files: ['entries.ts'],
    }),
  )
  const tsc = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app],
    {
      cwd: app,
      env,
      encoding: 'utf8',
    },
  )
  check(
    tsc.status === 0,
    `node app: every entry point type-checks (strict, skipLibCheck false, no @types/pg)${tsc.status === 0 ? '' : `: ${tsc.stdout.trim().split('\n')[0]}`}`,
  )

  writeFileSync(join(app, 'peer.mjs'), PEER)
  const { child, port } = await startServe(app, [
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data',
    join(app, 'weft-data'),
  ])
  try {
    check(true, `npx weft serve runs from the install (port ${port})`)
    const url = `ws://127.0.0.1:${port}/relay`
    const peer = (path, text) =>
      JSON.parse(
        sh(process.execPath, ['peer.mjs', url, join(app, path), text], app)
          .trim()
          .split('\n')
          .at(-1),
      ).text
    const written = peer('a.sqlite', 'hello from a Node peer')
    const read = peer('b.sqlite', '')
    check(
      written === 'hello from a Node peer' && read === written,
      `two Node peers sync through weft serve ("${read}")`,
    )
  } finally {
    await stopServe(child)
  }
}

try {
  log(`working in ${work}`)
  const staged = stage()
  const tarballs = pack(staged)
  const figures = await browserApp(tarballs)
  await nodeApp(tarballs)
  log(
    `browser-only install from the tarballs: ${figures.packages} packages, ${figures.mb.toFixed(1)} MB, ${figures.seconds.toFixed(1)} s`,
  )
} catch (err) {
  failures.push(err instanceof Error ? err.message : String(err))
  console.error(err)
} finally {
  if (!args.has('--keep')) rmSync(work, { recursive: true, force: true })
}
log(
  failures.length === 0
    ? 'release check passed'
    : `release check FAILED (${failures.length}): ${failures.join('; ')}`,
)
process.exit(failures.length === 0 ? 0 : 1)
