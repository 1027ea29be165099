// The `coordinator` command line: `serve` (default) and `migrate`.
import { ConfigError, AppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { installSignalLadder } from '../shared/signal-ladder.js';
import { loadCoordinatorConfig } from './config.js';
import { Coordinator, openDatabase } from './coordinator.js';
import { migrate } from './store/migrator.js';

const USAGE = `Usage: coordinator [serve | migrate | help]

  serve     start the coordinator (default): the executor API, the admin API and /metrics
  migrate   apply pending database migrations and exit (serve also applies them at start-up)

Configuration is read from COORDINATOR_* environment variables; see README.md (Configuration).`;

export async function runCoordinatorCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (command !== 'serve' && command !== 'migrate') {
    process.stderr.write(`coordinator: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadCoordinatorConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`coordinator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, name: 'coordinator' });
  try {
    if (command === 'migrate') {
      const db = await openDatabase(config, logger);
      try {
        const result = await migrate(db, logger);
        logger.info(result.applied.length > 0 ? 'migrations applied' : 'database already up to date', { version: result.currentVersion });
      } finally {
        await db.close();
      }
      return 0;
    }
    const coordinator = new Coordinator({ config, logger });
    const stopped = new Promise<void>((resolve) => {
      installSignalLadder(
        [
          { description: 'stopping: finishing in-flight requests (send the signal again to exit at once)', run: () => coordinator.stop().then(resolve) },
        ],
        logger,
      );
    });
    await coordinator.start();
    await stopped;
    logger.info('coordinator stopped');
    return 0;
  } catch (err) {
    if (err instanceof AppError) {
      logger.error(err.message, { code: err.code });
      return 1;
    }
    throw err;
  }
}
