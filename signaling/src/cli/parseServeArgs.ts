import { parseArgs } from 'node:util'
import { ClientAddresses } from '../admission/ClientAddresses.js'

/** Settings of `weft serve`, after command-line flags and environment variables are combined. */
export interface ServeConfig {
  readonly host: string
  readonly port: number
  /** Data directory of the embedded store; `null` with `--no-relay`. */
  readonly dataDir: string | null
  readonly staticDir: string | null
  readonly authSecret: string | null
  /** A PEM public key, or a path to one. */
  readonly authPublicKey: string | null
  readonly authIssuer: string | null
  readonly authAudience: string | null
  /** Clock skew tolerated for a token's `exp`/`nbf`, in seconds (AUTH-7); `null` for the default, 0. */
  readonly authClockToleranceSeconds: number | null
  /**
   * Addresses or CIDR ranges of proxies whose `X-Forwarded-For` names the client (CONN-10.1); `null` for the default
   * (loopback), `[]` for none (`--trust-proxy none`).
   */
  readonly trustProxy: readonly string[] | null
  /** Per-address limits (CONN-10); `null` for the defaults (500 connections, 20 upgrades/s, burst 200). */
  readonly maxConnectionsPerIp: number | null
  readonly upgradesPerIpPerSecond: number | null
  readonly upgradeBurstPerIp: number | null
  /** WS-RELAY-12: SUBSCRIBEs that join at once and per second on the workspace endpoint; `null` for 200 and 20. */
  readonly subscribeBurst: number | null
  readonly subscribesPerSecond: number | null
  readonly commitWindowMs: number | null
  readonly idleUnloadMs: number | null
  readonly maxConnections: number | null
  readonly maxMessageBytes: number | null
  /** Largest document the relay holds, in bytes (RELAY-9.4). */
  readonly maxDocBytes: number | null
  /** Largest catalogue entry a partial writer may leave (WS-ACCESS-8). */
  readonly maxCatalogueEntryBytes: number | null
  /** Server-wide bytes of unfinished incoming messages (CONN-11.2). */
  readonly maxPendingInputBytes: number | null
  readonly logLevel: string
  /** Scale-out mode: Redis URL or socket path (with {@link ServeConfig.postgresUrl}); `null` for one node. */
  readonly redisUrl: string | null
  /** Scale-out mode: PostgreSQL connection string, the shared store used instead of `--data`. */
  readonly postgresUrl: string | null
  /** Scale-out mode: a node silent this long is dead (its clients' presence is removed). */
  readonly nodeTimeoutMs: number | null
  /** A connection silent this long is cut and its presence removed (CONN-3, RELAY-6.6). */
  readonly heartbeatTimeoutMs: number | null
  /** The relay starts epochs (history resets) itself when deleted content dominates (RELAY-EPOCH-5). */
  readonly epochReset: boolean
  /**
   * Thresholds of `--epoch-reset` (COMPACT-2.1, RELAY-EPOCH-5): deleted items below which no reset starts, deleted
   * items per live item from which one does, and the least time between two checks of one document; `null` for
   * the default (100,000; 10; 60,000 ms).
   */
  readonly epochResetMinDeleted: number | null
  readonly epochResetRatio: number | null
  readonly epochResetIntervalMs: number | null
  /** `--rules`: a module of room rules (docs/guides/rules.md), or `null`. */
  readonly rulesModule: string | null
  /**
   * `--workspace-retention-ms`: how long a deleted workspace document's data is kept before the relay purges it
   * (WS-PURGE-1), `false` for `never`; `null` for the default (30 days).
   */
  readonly workspaceRetentionMs: number | false | null
}

/** Outcome of {@link parseServeArgs}. */
export type ServeArgs =
  | { readonly ok: true; readonly help: true }
  | { readonly ok: true; readonly help: false; readonly config: ServeConfig }
  | { readonly ok: false; readonly reason: string }

/** Every flag of `weft serve`: name, environment variable, value placeholder, description. */
export const SERVE_FLAGS = [
  ['host', 'WEFT_HOST', '<addr>', 'interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)'],
  ['port', 'WEFT_PORT', '<n>', 'port (default 4444; 0 picks a free one)'],
  ['data', 'WEFT_DATA', '<dir>', 'directory of the relay store (default ./weft-data)'],
  ['no-relay', 'WEFT_NO_RELAY', '', 'signaling only: no relay, no store'],
  ['static', 'WEFT_STATIC', '<dir>', 'serve the files of <dir> at / (the demo); <dir> must exist'],
  ['auth-secret', 'WEFT_AUTH_SECRET', '<secret>', 'require HS256 JWTs signed with this secret (>= 32 bytes)'],
  [
    'auth-public-key',
    'WEFT_AUTH_PUBLIC_KEY',
    '<pem|file>',
    'require RS256/ES256 JWTs verified with this PEM key',
  ],
  ['auth-issuer', 'WEFT_AUTH_ISSUER', '<iss>', 'required "iss" claim'],
  ['auth-audience', 'WEFT_AUTH_AUDIENCE', '<aud>', 'required "aud" claim'],
  [
    'auth-clock-tolerance',
    'WEFT_AUTH_CLOCK_TOLERANCE',
    '<s>',
    'seconds a token is still accepted after its exp (default 0)',
  ],
  [
    'trust-proxy',
    'WEFT_TRUST_PROXY',
    '<list>',
    'comma-separated proxy addresses/CIDR ranges whose X-Forwarded-For names the client (default loopback; none)',
  ],
  [
    'max-connections-per-ip',
    'WEFT_MAX_CONNECTIONS_PER_IP',
    '<n>',
    'connections one client address may hold (IPv6: per /64; default 500)',
  ],
  [
    'upgrades-per-ip-per-second',
    'WEFT_UPGRADES_PER_IP_PER_SECOND',
    '<n>',
    'WebSocket upgrades per second per client address (default 20)',
  ],
  [
    'upgrade-burst-per-ip',
    'WEFT_UPGRADE_BURST_PER_IP',
    '<n>',
    'upgrade burst per client address (default 200)',
  ],
  [
    'subscribe-burst',
    'WEFT_SUBSCRIBE_BURST',
    '<n>',
    'workspace SUBSCRIBEs that join at once, per socket or client address (default 200)',
  ],
  [
    'subscribes-per-second',
    'WEFT_SUBSCRIBES_PER_SECOND',
    '<n>',
    'workspace SUBSCRIBEs per second once the burst is spent (default 20)',
  ],
  ['commit-window-ms', 'WEFT_COMMIT_WINDOW_MS', '<ms>', 'group-commit window (default 50)'],
  ['idle-unload-ms', 'WEFT_IDLE_UNLOAD_MS', '<ms>', 'unload documents idle this long (default 30000)'],
  [
    'workspace-retention-ms',
    'WEFT_WORKSPACE_RETENTION_MS',
    '<ms|never>',
    "keep a deleted workspace document's data this long, then purge it (default 2592000000: 30 days)",
  ],
  ['max-connections', 'WEFT_MAX_CONNECTIONS', '<n>', 'open WebSocket connections allowed (default 10000)'],
  [
    'heartbeat-timeout-ms',
    'WEFT_HEARTBEAT_TIMEOUT_MS',
    '<ms>',
    'cut a connection silent this long, and its presence (default 5000)',
  ],
  ['max-message-bytes', 'WEFT_MAX_MESSAGE_BYTES', '<n>', 'largest relay message (default 33554432)'],
  ['max-doc-bytes', 'WEFT_MAX_DOC_BYTES', '<n>', 'largest document the relay holds (default 67108864)'],
  [
    'max-catalogue-entry-bytes',
    'WEFT_MAX_CATALOGUE_ENTRY_BYTES',
    '<n>',
    'largest catalogue entry a writer of some documents may leave (default 65536)',
  ],
  [
    'max-pending-input-bytes',
    'WEFT_MAX_PENDING_INPUT_BYTES',
    '<n>',
    'bytes of unfinished incoming messages held for all connections (default 268435456)',
  ],
  ['log-level', 'WEFT_LOG_LEVEL', '<level>', 'trace, debug, info, warn, error or silent (default info)'],
  [
    'epoch-reset',
    'WEFT_EPOCH_RESET',
    '',
    "reset a document's history (new epoch) when deleted content dominates it (single node only)",
  ],
  [
    'epoch-reset-min-deleted',
    'WEFT_EPOCH_RESET_MIN_DELETED',
    '<n>',
    'with --epoch-reset: no reset below this many deleted items (default 100000)',
  ],
  [
    'epoch-reset-ratio',
    'WEFT_EPOCH_RESET_RATIO',
    '<n>',
    'with --epoch-reset: reset from this many deleted items per live item (default 10)',
  ],
  [
    'rules',
    'WEFT_RULES',
    '<module>',
    'room rules: a module exporting defineRules(...) or { roomPattern: rules } (docs/guides/rules.md)',
  ],
  [
    'epoch-reset-interval-ms',
    'WEFT_EPOCH_RESET_INTERVAL_MS',
    '<ms>',
    'with --epoch-reset: check a document at most this often, after a log compaction (default 60000)',
  ],
  [
    'redis',
    'WEFT_REDIS_URL',
    '<url>',
    'scale-out: Redis (redis://host:port or a socket path) for live updates between nodes',
  ],
  [
    'postgres',
    'WEFT_POSTGRES_URL',
    '<url>',
    'scale-out: PostgreSQL connection string, the shared store (instead of --data)',
  ],
  [
    'node-timeout-ms',
    'WEFT_NODE_TIMEOUT_MS',
    '<ms>',
    'scale-out: a silent node is dead after this (default 10000)',
  ],
] as const

/** `--trust-proxy`: a comma-separated list, `none` for an empty one, `null` when not given. */
const proxyList = (raw: string | null): readonly string[] | null => {
  if (raw === null) return null
  if (raw.trim() === 'none') return []
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])

/** Help text of `weft serve`. */
export const serveHelp = (): string => {
  const lines = SERVE_FLAGS.map(([name, env, value, text]) => {
    const flag = `--${name}${value ? ` ${value}` : ''}`
    return `  ${flag.padEnd(32)} ${text}\n  ${''.padEnd(32)} env ${env}`
  })
  return [
    'Usage: weft serve [options]',
    '',
    'Runs the Weft server on one HTTP port: WebRTC signaling at /signal, the storing relay at /relay/<room>,',
    '/healthz, /metrics, and static files at / (with --static). Flags win over environment variables.',
    'With --redis and --postgres, several nodes serve the same rooms (docs/guides/scale-out.md).',
    '',
    'Options:',
    ...lines,
    '  -h, --help                       show this help',
    '',
  ].join('\n')
}

/**
 * Parses `weft serve` arguments (after the command name) together with the environment. Never throws: invalid
 * input comes back as `{ ok: false, reason }`.
 */
export const parseServeArgs = (argv: readonly string[], env: NodeJS.ProcessEnv): ServeArgs => {
  let values: Record<string, string | boolean | undefined>
  try {
    const options = Object.fromEntries(
      SERVE_FLAGS.map(([name, , value]) => [
        name,
        { type: value ? ('string' as const) : ('boolean' as const) },
      ]),
    )
    ;({ values } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }
  if (values['help']) return { ok: true, help: true }

  const str = (name: (typeof SERVE_FLAGS)[number][0]): string | null => {
    const flag = SERVE_FLAGS.find((f) => f[0] === name)
    const fromFlag = values[name]
    if (typeof fromFlag === 'string') return fromFlag
    const fromEnv = flag ? env[flag[1]] : undefined
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : null
  }
  const errors: string[] = []
  const int = (name: (typeof SERVE_FLAGS)[number][0], min: number, max: number): number | null => {
    const raw = str(name)
    if (raw === null) return null
    const n = Number(raw)
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      errors.push(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
      return null
    }
    return n
  }

  const flag = (name: 'no-relay' | 'epoch-reset', envName: string): boolean => {
    const fromEnv = env[envName]
    return values[name] === true || (fromEnv !== undefined && /^(1|true|yes|on)$/i.test(fromEnv))
  }
  const noRelay = flag('no-relay', 'WEFT_NO_RELAY')
  const config: ServeConfig = {
    host: str('host') ?? '127.0.0.1',
    port: int('port', 0, 65535) ?? 4444,
    dataDir: noRelay ? null : (str('data') ?? './weft-data'),
    staticDir: str('static'),
    authSecret: str('auth-secret'),
    authPublicKey: str('auth-public-key'),
    authIssuer: str('auth-issuer'),
    authAudience: str('auth-audience'),
    authClockToleranceSeconds: int('auth-clock-tolerance', 0, 86_400),
    trustProxy: proxyList(str('trust-proxy')),
    maxConnectionsPerIp: int('max-connections-per-ip', 1, 10_000_000),
    upgradesPerIpPerSecond: int('upgrades-per-ip-per-second', 1, 1_000_000),
    upgradeBurstPerIp: int('upgrade-burst-per-ip', 1, 1_000_000),
    subscribeBurst: int('subscribe-burst', 1, 10_000_000),
    subscribesPerSecond: int('subscribes-per-second', 1, 10_000_000),
    commitWindowMs: int('commit-window-ms', 0, 60_000),
    idleUnloadMs: int('idle-unload-ms', 0, 2 ** 31 - 1),
    maxConnections: int('max-connections', 1, 10_000_000),
    maxMessageBytes: int('max-message-bytes', 1024, 1024 * 1024 * 1024),
    maxDocBytes: int('max-doc-bytes', 1024, 2 ** 40),
    maxCatalogueEntryBytes: int('max-catalogue-entry-bytes', 256, 2 ** 40),
    maxPendingInputBytes: int('max-pending-input-bytes', 1024 * 1024, 2 ** 40),
    logLevel: str('log-level') ?? 'info',
    redisUrl: str('redis'),
    postgresUrl: str('postgres'),
    nodeTimeoutMs: int('node-timeout-ms', 100, 3_600_000),
    heartbeatTimeoutMs: int('heartbeat-timeout-ms', 100, 3_600_000),
    epochReset: flag('epoch-reset', 'WEFT_EPOCH_RESET'),
    epochResetMinDeleted: int('epoch-reset-min-deleted', 0, Number.MAX_SAFE_INTEGER),
    epochResetRatio: int('epoch-reset-ratio', 0, 1_000_000),
    epochResetIntervalMs: int('epoch-reset-interval-ms', 0, 2 ** 31 - 1),
    rulesModule: str('rules'),
    workspaceRetentionMs:
      str('workspace-retention-ms') === 'never'
        ? false
        : int('workspace-retention-ms', 0, Number.MAX_SAFE_INTEGER),
  }
  if (noRelay && config.rulesModule !== null) errors.push('--rules needs the relay (drop --no-relay)')
  if (noRelay && config.workspaceRetentionMs !== null)
    errors.push('--workspace-retention-ms needs the relay (drop --no-relay)')
  if ((config.redisUrl === null) !== (config.postgresUrl === null)) {
    errors.push('scale-out needs both --redis and --postgres')
  }
  if (noRelay && config.redisUrl !== null)
    errors.push('--redis and --postgres need the relay (drop --no-relay)')
  if (config.epochReset && (noRelay || config.redisUrl !== null))
    errors.push('--epoch-reset needs the relay on a single node (no --no-relay, no --redis)')
  const knobs = [config.epochResetMinDeleted, config.epochResetRatio, config.epochResetIntervalMs]
  if (!config.epochReset && knobs.some((v) => v !== null))
    errors.push(
      '--epoch-reset-min-deleted, --epoch-reset-ratio and --epoch-reset-interval-ms need --epoch-reset',
    )
  if (config.authSecret !== null && config.authPublicKey !== null) {
    errors.push('give either --auth-secret or --auth-public-key, not both')
  }
  try {
    new ClientAddresses(config.trustProxy ?? undefined)
  } catch (err) {
    errors.push(`--trust-proxy: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (!LOG_LEVELS.has(config.logLevel)) errors.push(`unknown --log-level ${JSON.stringify(config.logLevel)}`)
  if (errors.length > 0) return { ok: false, reason: errors.join('; ') }
  return { ok: true, help: false, config }
}

/** The relay's `epochs.autoStart` for a config with `--epoch-reset`: the thresholds given, core's defaults else. */
export const epochResetPolicy = (
  config: ServeConfig,
): { minDeletedItems?: number; deletedPerLive?: number; minIntervalMs?: number } => ({
  ...(config.epochResetMinDeleted === null ? {} : { minDeletedItems: config.epochResetMinDeleted }),
  ...(config.epochResetRatio === null ? {} : { deletedPerLive: config.epochResetRatio }),
  ...(config.epochResetIntervalMs === null ? {} : { minIntervalMs: config.epochResetIntervalMs }),
})
