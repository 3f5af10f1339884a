import type { RedisOptions } from 'ioredis'

/**
 * ioredis options for a scale-out bus (the room bus, the workspace bus) from a Redis URL (`redis://user:pw@host:port/db`,
 * `rediss://` for TLS) or a Unix socket path. Best-effort by design: PostgreSQL is the truth, so nothing is queued while
 * Redis is away (a long outage would otherwise grow memory without bound) and whoever missed messages catches up from
 * the store.
 */
export const redisConnectionOptions = (
  url: string,
  retryDelay: (attempt: number) => number,
): RedisOptions => {
  const base: RedisOptions = {
    enableOfflineQueue: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 1,
    retryStrategy: retryDelay,
    lazyConnect: true,
  }
  if (url.startsWith('/')) return { ...base, path: url }
  const parsed = new URL(url)
  return {
    ...base,
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  }
}
