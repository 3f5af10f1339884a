import { readFile } from 'node:fs/promises'
import { pino } from 'pino'
import { createWeftServer } from '../createWeftServer.js'
import { loadRulesModule } from '../relay/rules/loadRulesModule.js'
import { WeftServerError } from '../WeftServerError.js'
import { epochResetPolicy, parseServeArgs, serveHelp, type ServeConfig } from './parseServeArgs.js'
import { compactCommand, inspectCommand } from './storeCommands.js'

const HELP = `Usage: weft <command> [options]

Commands:
  serve     run the Weft server (signaling, relay, health, metrics, static files)
  inspect   per document of a store: live content, encoded and stored size, updates, deleted items, clients, epoch
            (--workspaces: per workspace: documents, change sequence, stored bytes)
  compact   compact a store's documents (log compaction), with a progress bar

Run "weft <command> --help" for a command's options; "weft --version" (-v) prints the version.
`

/** CLI-5: the version of `@weft/signaling` (its package.json: the same path from src/cli and dist/cli). */
const packageVersion = async (): Promise<string> => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown
  }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown'
}

/** Reads `--auth-public-key`: PEM text as given, anything else as a path to a PEM file. */
const readPublicKey = async (value: string): Promise<string> =>
  value.includes('-----BEGIN') ? value : readFile(value, 'utf8')

/** `weft serve`: runs until SIGTERM/SIGINT, then shuts down gracefully. Resolves with the exit code. */
export const serve = async (config: ServeConfig): Promise<number> => {
  // CLI-3.1: a log nobody reads any more (stdout a pipe whose reader is gone: a closed terminal, a supervisor that
  // died) must not stop the server or its shutdown. With pino's default destination, SIGTERM then never finished the
  // shutdown (measured: the process stayed up); a synchronous destination whose write errors are dropped does.
  const destination = pino.destination({ dest: 1, sync: true })
  destination.on('error', () => undefined)
  const logger = pino({ name: 'weft', level: config.logLevel }, destination)
  const rules = config.rulesModule === null ? undefined : await loadRulesModule(config.rulesModule)
  const server = createWeftServer({
    host: config.host,
    port: config.port,
    staticDir: config.staticDir ?? undefined,
    trustedProxies: config.trustProxy ?? undefined,
    workspaceRetention: config.workspaceRetentionMs ?? undefined,
    logger,
    auth: {
      secret: config.authSecret ?? undefined,
      publicKey: config.authPublicKey !== null ? await readPublicKey(config.authPublicKey) : undefined,
      issuer: config.authIssuer ?? undefined,
      audience: config.authAudience ?? undefined,
      clockToleranceSeconds: config.authClockToleranceSeconds ?? undefined,
    },
    limits: {
      ...(config.maxConnections !== null ? { maxConnections: config.maxConnections } : {}),
      ...(config.heartbeatTimeoutMs !== null ? { heartbeatTimeoutMs: config.heartbeatTimeoutMs } : {}),
      ...(config.maxConnectionsPerIp !== null ? { maxConnectionsPerIp: config.maxConnectionsPerIp } : {}),
      ...(config.upgradesPerIpPerSecond !== null
        ? { upgradesPerIpPerSecond: config.upgradesPerIpPerSecond }
        : {}),
      ...(config.upgradeBurstPerIp !== null ? { upgradeBurstPerIp: config.upgradeBurstPerIp } : {}),
      ...(config.maxMessageBytes !== null ? { maxRelayMessageBytes: config.maxMessageBytes } : {}),
      ...(config.maxDocBytes !== null ? { maxDocBytes: config.maxDocBytes } : {}),
      ...(config.maxCatalogueEntryBytes !== null
        ? { maxCatalogueEntryBytes: config.maxCatalogueEntryBytes }
        : {}),
      ...(config.maxPendingInputBytes !== null ? { maxPendingInputBytes: config.maxPendingInputBytes } : {}),
    },
    relay:
      config.dataDir === null
        ? false
        : {
            dataDir: config.dataDir,
            commitWindowMs: config.commitWindowMs ?? undefined,
            idleUnloadMs: config.idleUnloadMs ?? undefined,
            workspaceSubscribes: {
              burst: config.subscribeBurst ?? undefined,
              perSecond: config.subscribesPerSecond ?? undefined,
            },
            rules,
            epochs: config.epochReset ? { autoStart: epochResetPolicy(config) } : undefined,
            scaleOut:
              config.redisUrl !== null && config.postgresUrl !== null
                ? {
                    redisUrl: config.redisUrl,
                    postgresUrl: config.postgresUrl,
                    nodeTimeoutMs: config.nodeTimeoutMs ?? undefined,
                  }
                : undefined,
          },
  })
  await server.listen()
  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without finishing the shutdown')
        return resolve(1)
      }
      stopping = true
      logger.info({ signal }, 'shutting down')
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

/** Entry point of the `weft` command. Resolves with the process exit code. */
export const main = async (
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> => {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined ? 1 : 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${await packageVersion()}\n`)
    return 0
  }
  if (command === 'inspect' || command === 'compact') {
    try {
      const run = command === 'inspect' ? inspectCommand : compactCommand
      return await run(rest, process.stdout, process.stderr)
    } catch (err) {
      process.stderr.write(`weft ${command}: ${err instanceof Error ? err.message : String(err)}\n`)
      return 1
    }
  }
  if (command !== 'serve') {
    process.stderr.write(`weft: unknown command ${JSON.stringify(command)}\n\n${HELP}`)
    return 1
  }
  const args = parseServeArgs(rest, env)
  if (!args.ok) {
    process.stderr.write(`weft serve: ${args.reason}\n\nRun "weft serve --help" for the options.\n`)
    return 1
  }
  if (args.help) {
    process.stdout.write(serveHelp())
    return 0
  }
  try {
    return await serve(args.config)
  } catch (err) {
    const message = err instanceof WeftServerError || err instanceof Error ? err.message : String(err)
    // CLI-1.2: the cause once, when the message does not already say it ("file is not a database").
    const cause =
      err instanceof Error && err.cause instanceof Error && !message.includes(err.cause.message)
        ? ` (${err.cause.message})`
        : ''
    process.stderr.write(`weft serve: ${message}${cause}\n`)
    return 1
  }
}
