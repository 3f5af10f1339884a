import { pino, type Logger } from 'pino'

/** A pino logger whose lines a test reads, and a way to await a line (no sleeps: resolves on the write). */
export const captureLogger = (): {
  logger: Logger
  lines: Array<Record<string, unknown>>
  line: (match: (l: Record<string, unknown>) => boolean, from?: number) => Promise<Record<string, unknown>>
} => {
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  const logger = pino(
    { level: 'info' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as Record<string, unknown>)
        for (const w of waiters.splice(0)) w()
      },
    },
  )
  const line = async (match: (l: Record<string, unknown>) => boolean, from = 0) => {
    for (;;) {
      const found = lines.slice(from).find(match)
      if (found) return found
      await new Promise<void>((r) => waiters.push(r))
    }
  }
  return { logger, lines, line }
}
