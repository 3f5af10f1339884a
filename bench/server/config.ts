/**
 * Sizes of the server benchmark, from the environment. `WEFT_BENCH_SCALE` (default 1) scales every workload;
 * the specific variables below override single sizes.
 */

/**
 * (a) fan-out: rooms x clients, each client sending `edits` edits, one every `intervalMs`; repeated `rounds` times
 * per server (a fresh server each round, servers interleaved) and the median round reported.
 */
export interface FanOutSizes {
  readonly rooms: number
  readonly clientsPerRoom: number
  readonly edits: number
  readonly intervalMs: number
  readonly rounds: number
  /**
   * Edits each client sends (same pace) before the measured ones, their deliveries awaited and not counted: the
   * servers' JIT compiles the update path first, as in a server that has been running (default 0: measured cold,
   * right after the server started, as the Figures table was).
   */
  readonly warmupEdits: number
}

/** (b) idle connections spread over rooms. */
export interface IdleSizes {
  readonly connections: number
  readonly rooms: number
  /** How long the server's CPU is measured while the connections sit idle. */
  readonly idleWindowMs: number
}

/** (c) joins of a document with a long history. */
export interface HistorySizes {
  /** Edits (transactions of an editing trace) made before the joins. */
  readonly edits: number
  /**
   * Edits sent by each writer connection, one per message (Weft's default rate limit allows a burst of 1,000
   * messages per connection, then 200 per second).
   */
  readonly editsPerWriter: number
  /** Fresh clients joining one after the other. */
  readonly joins: number
}

/** (d) many clients joining one large document at once. */
export interface StormSizes {
  readonly megabytes: number
  readonly clients: number
  /** Client processes the joiners are spread over (the same for every server). */
  readonly processes: number
}

/**
 * (e) presence: rooms x clients, awareness only, each client changing its presence `updates` times, one every
 * `intervalMs`; run with clients that echo what they receive (stock y-websocket) and without; `rounds` per server.
 * `warmupUpdates` changes per client come first, awaited and not measured, the same for every server (default 10): a
 * fresh Node server spends its first seconds compiling its hot path, 0.15-0.3 s of CPU for the relay and for
 * @y/websocket-server alike whatever the number of updates, which inside a 15 s window would be charged to the
 * updates (docs/guides/server.md, "Presence (issue 12.11)"). 0 measures a fresh server.
 */
export interface PresenceSizes {
  readonly rooms: number
  readonly clientsPerRoom: number
  readonly updates: number
  readonly intervalMs: number
  readonly rounds: number
  readonly warmupUpdates: number
}

/** Every size of the server benchmark. */
export interface ServerBenchSizes {
  readonly scale: number
  readonly fanOut: FanOutSizes
  /**
   * (a') the light fan-out: few rooms, slow edits (issue 13: 20 rooms x 10 clients at 2 edits per second each), where
   * fixed per-update costs such as timers and store commits show.
   */
  readonly fanOutLight: FanOutSizes
  readonly idle: IdleSizes
  readonly history: HistorySizes
  readonly storm: StormSizes
  readonly presence: PresenceSizes
}

/** The scenarios, in the order they run. */
export const SCENARIOS = [
  'fanout',
  'fanout-light',
  'idle',
  'history',
  'storm',
  'presence',
  'presence-echo',
] as const
/** One scenario's name. */
export type Scenario = (typeof SCENARIOS)[number]

const num = (env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number => {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min)
    throw new Error(`${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`)
  return n
}

/** Reads the sizes from `env`. */
export const sizesFromEnv = (env: NodeJS.ProcessEnv = process.env): ServerBenchSizes => {
  const scale = num(env, 'WEFT_BENCH_SCALE', 1, 0.01)
  const scaled = (n: number, min = 1) => Math.max(min, Math.round(n * scale))
  return {
    scale,
    fanOut: {
      rooms: num(env, 'WEFT_BENCH_FANOUT_ROOMS', scaled(50)),
      clientsPerRoom: num(env, 'WEFT_BENCH_FANOUT_CLIENTS', 10, 2),
      edits: num(env, 'WEFT_BENCH_FANOUT_EDITS', 8),
      intervalMs: num(env, 'WEFT_BENCH_FANOUT_INTERVAL_MS', 1000),
      rounds: num(env, 'WEFT_BENCH_FANOUT_ROUNDS', 5),
      warmupEdits: num(env, 'WEFT_BENCH_FANOUT_WARMUP_EDITS', 0, 0),
    },
    fanOutLight: {
      rooms: num(env, 'WEFT_BENCH_LIGHT_ROOMS', scaled(20)),
      clientsPerRoom: num(env, 'WEFT_BENCH_LIGHT_CLIENTS', 10, 2),
      edits: num(env, 'WEFT_BENCH_LIGHT_EDITS', 20),
      intervalMs: num(env, 'WEFT_BENCH_LIGHT_INTERVAL_MS', 500),
      rounds: num(env, 'WEFT_BENCH_LIGHT_ROUNDS', 3),
      warmupEdits: num(env, 'WEFT_BENCH_LIGHT_WARMUP_EDITS', 0, 0),
    },
    idle: {
      connections: num(env, 'WEFT_BENCH_IDLE_CONNECTIONS', scaled(5000, 10)),
      rooms: num(env, 'WEFT_BENCH_IDLE_ROOMS', scaled(1000)),
      idleWindowMs: num(env, 'WEFT_BENCH_IDLE_WINDOW_MS', 20_000, 1000),
    },
    history: {
      edits: num(env, 'WEFT_BENCH_HISTORY_EDITS', scaled(20_000, 100)),
      editsPerWriter: num(env, 'WEFT_BENCH_HISTORY_EDITS_PER_WRITER', 500),
      joins: num(env, 'WEFT_BENCH_HISTORY_JOINS', 11),
    },
    storm: {
      megabytes: num(env, 'WEFT_BENCH_STORM_MB', Math.max(0.5, 20 * scale), 0.1),
      clients: num(env, 'WEFT_BENCH_STORM_CLIENTS', 50),
      processes: num(env, 'WEFT_BENCH_STORM_PROCESSES', 5),
    },
    presence: {
      rooms: num(env, 'WEFT_BENCH_PRESENCE_ROOMS', scaled(10)),
      clientsPerRoom: num(env, 'WEFT_BENCH_PRESENCE_CLIENTS', 20, 2),
      updates: num(env, 'WEFT_BENCH_PRESENCE_UPDATES', 15),
      intervalMs: num(env, 'WEFT_BENCH_PRESENCE_INTERVAL_MS', 1000),
      rounds: num(env, 'WEFT_BENCH_PRESENCE_ROUNDS', 3),
      warmupUpdates: num(env, 'WEFT_BENCH_PRESENCE_WARMUP_UPDATES', 10, 0),
    },
  }
}

/** Scenarios selected by `WEFT_BENCH_SERVER_SCENARIOS` (comma-separated; default all). */
export const scenariosFromEnv = (env: NodeJS.ProcessEnv = process.env): Scenario[] => {
  const raw = env['WEFT_BENCH_SERVER_SCENARIOS']
  if (!raw) return [...SCENARIOS]
  const wanted = raw.split(',').map((s) => s.trim())
  const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s))
  if (unknown.length > 0)
    throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`)
  return SCENARIOS.filter((s) => wanted.includes(s))
}
