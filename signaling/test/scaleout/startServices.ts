import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

/** The newest PostgreSQL Debian installed (`/usr/lib/postgresql/<major>/bin`), whatever the release ships. */
const debianPgBin = (): string => {
  const root = '/usr/lib/postgresql'
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)) : []
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0] ?? '15'
  return join(root, newest, 'bin')
}
const PG_BIN = process.env['WEFT_TEST_PG_BIN'] ?? debianPgBin()
const REDIS_BIN = process.env['WEFT_TEST_REDIS_BIN'] ?? 'redis-server'

/** Throws a clear error when a service binary is missing: the scale-out tests fail rather than skip. */
const requireBinary = (path: string, what: string, install: string): void => {
  const found = path.includes('/') ? existsSync(path) : spawnSync('which', [path]).status === 0
  if (!found) {
    throw new Error(`scale-out tests need ${what} (${path} not found); install it: ${install}`)
  }
}

/** A redis-server child on a Unix socket in its own temp directory. */
export interface RedisService {
  /** Socket path, usable as the ioredis connection string and as `weft serve --redis`. */
  readonly url: string
  /** Kills the server with SIGKILL and waits for its exit. */
  kill(): Promise<void>
  /** Starts it again on the same socket (after {@link RedisService.kill}). */
  restart(): Promise<void>
  /** SIGSTOP: the server hangs, its connections stay open (a hung Redis, no reset). */
  pause(): void
  /** SIGCONT after {@link RedisService.pause}. */
  resume(): void
  stop(): Promise<void>
}

const waitForFile = async (path: string, child: ChildProcess, what: string): Promise<void> => {
  for (let i = 0; i < 500; i++) {
    if (existsSync(path)) return
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`)
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`${what} did not create ${path} within 5 s`)
}

/** Starts redis-server (no persistence) listening only on a Unix socket. */
export const startRedis = async (): Promise<RedisService> => {
  requireBinary(REDIS_BIN, 'redis-server', 'apt-get install -y redis-server')
  const dir = await mkdtemp(join(tmpdir(), 'weft-redis-'))
  const socket = join(dir, 'redis.sock')
  let child: ChildProcess | null = null
  const start = async () => {
    const c = spawn(
      REDIS_BIN,
      [
        '--port',
        '0',
        '--unixsocket',
        socket,
        '--unixsocketperm',
        '700',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    )
    child = c
    await waitForFile(socket, c, 'redis-server')
  }
  const kill = async () => {
    const c = child
    child = null
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await exited
    await rm(socket, { force: true })
  }
  await start()
  return {
    url: socket,
    kill,
    restart: start,
    pause: () => void (child as ChildProcess | null)?.kill('SIGSTOP'),
    resume: () => void (child as ChildProcess | null)?.kill('SIGCONT'),
    stop: async () => {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A PostgreSQL cluster (the newest major installed) in a temp directory, listening only on a Unix socket. */
export interface PostgresService {
  /** A connection string for `pg` and `weft serve --postgres`. */
  readonly url: string
  /** Creates a fresh database and returns its connection string. */
  createDatabase(name: string): string
  stop(): Promise<void>
}

/** Runs a PostgreSQL binary, as the `postgres` user when this process is root (initdb refuses root). */
const pgRun = (tool: string, args: string[]): void => {
  const root = process.getuid?.() === 0
  const bin = join(PG_BIN, tool)
  const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  const out = spawnSync(cmd, argv, { encoding: 'utf8' })
  if (out.status !== 0) throw new Error(`${tool} failed (${out.status}): ${out.stderr || out.stdout}`)
}

/** Initializes and starts a throw-away cluster (fsync off: tests do not survive power loss anyway). */
export const startPostgres = async (): Promise<PostgresService> => {
  requireBinary(join(PG_BIN, 'initdb'), 'PostgreSQL', 'apt-get install -y postgresql')
  const dir = await mkdtemp(join(tmpdir(), 'weft-pg-'))
  if (process.getuid?.() === 0) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
    if (id.status !== 0)
      throw new Error('scale-out tests run as root need a "postgres" user (apt-get install -y postgresql)')
    await chown(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()))
  }
  await chmod(dir, 0o700)
  const data = join(dir, 'data')
  pgRun('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  pgRun('pg_ctl', [
    '-D',
    data,
    '-w',
    '-l',
    join(dir, 'log'),
    '-o',
    `-c listen_addresses= -k ${dir} -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
    'start',
  ])
  const urlFor = (db: string) => `postgresql://postgres@/${db}?host=${encodeURIComponent(dir)}&port=5432`
  return {
    url: urlFor('postgres'),
    createDatabase: (name) => {
      const out = spawnSync(
        join(PG_BIN, 'psql'),
        ['-h', dir, '-p', '5432', '-U', 'postgres', '-c', `CREATE DATABASE ${name}`],
        {
          encoding: 'utf8',
        },
      )
      if (out.status !== 0) throw new Error(`CREATE DATABASE failed: ${out.stderr}`)
      return urlFor(name)
    },
    stop: async () => {
      try {
        pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
  }
}

/** A TCP path to a Unix-socket service whose open connections can be cut silently (see {@link blackholePath}). */
export interface BlackholePath {
  /** `redis://127.0.0.1:<port>`: connect through the path. */
  readonly url: string
  /** Every connection open now stops carrying bytes both ways, without a reset; new connections work. */
  blackhole(): void
  close(): Promise<void>
}

/**
 * A TCP proxy to `socketPath` that can drop the bytes of its open connections (a NAT that forgot them, a cable
 * pulled: the peer sends no reset, so only an application-level liveness check finds out).
 */
export const blackholePath = async (socketPath: string): Promise<BlackholePath> => {
  const pairs = new Set<{ cut: boolean; client: Socket; upstream: Socket }>()
  const server = createServer((client) => {
    const upstream = connect(socketPath)
    const pair = { cut: false, client, upstream }
    pairs.add(pair)
    client.on('data', (d) => void (pair.cut || upstream.write(d)))
    upstream.on('data', (d) => void (pair.cut || client.write(d)))
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const s of [client, upstream]) s.on('close', end).on('error', end)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `redis://127.0.0.1:${port}`,
    blackhole: () => {
      for (const p of pairs) p.cut = true
    },
    close: async () => {
      for (const p of pairs) {
        p.client.destroy()
        p.upstream.destroy()
      }
      await new Promise((r) => server.close(r))
    },
  }
}
