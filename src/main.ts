import { pino } from 'pino'
import { isOperatorError, operatorMessage } from './cli/run.js'
import { parseConfig, weakSecrets } from './config.js'
import { openService } from './service.js'

const SHUTDOWN_TIMEOUT_MS = 10_000

async function main(): Promise<void> {
  const config = parseConfig(process.env)
  const logger = pino({
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  })
  for (const warning of weakSecrets(config)) logger.warn(warning)
  const service = await openService(config, logger)
  const address = await service.app.listen({ port: config.port, host: config.host })
  logger.info({ address, database: config.database.kind }, 'sojus-ledger is listening')

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing requests in flight')
    const timer = setTimeout(() => {
      logger.error('shutdown took too long; exiting')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS)
    timer.unref()
    service.close().then(
      () => {
        logger.info('stopped cleanly')
        process.exit(0)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

main().catch((error: unknown) => {
  if (isOperatorError(error)) {
    process.stderr.write(`${operatorMessage('sojus-ledger', error)}\n`)
  } else {
    process.stderr.write(`sojus-ledger failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  }
  process.exit(1)
})
