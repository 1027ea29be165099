// The `coordinator` command line: `serve` (default), `migrate`, the admin commands, `healthcheck`, `--version`.
import { versionLine } from '../shared/build-info.js';
import { ConfigError, AppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { installSignalLadder } from '../shared/signal-ladder.js';
import { createUserCommand, rotateEncryptionKeyCommand } from './admin-commands.js';
import { loadCoordinatorConfig } from './config.js';
import { Coordinator, openDatabase } from './coordinator.js';
import { checkHealth } from './health-check.js';
import { migrate } from './store/migrator.js';

const USAGE = `Usage: coordinator [serve | migrate | create-user <username> [--site-admin] | rotate-encryption-key | healthcheck | help | --version]

  serve                  start the coordinator (default): the executor API, the admin API and /metrics
  migrate                apply pending database migrations and exit (serve also applies them at start-up)
  create-user            create a user (password from COORDINATOR_USER_PASSWORD, optional) and print an API token
  rotate-encryption-key  re-encrypt every executor secret under a new key (see README.md, Executor secrets)
  healthcheck            exit 0 when the coordinator at COORDINATOR_ADDR answers GET /healthz (container health checks)
  --version              print the version and the commit it was built from

Configuration is read from COORDINATOR_* environment variables; see README.md (Configuration).`;

export async function runCoordinatorCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(versionLine('coordinator') + '\n');
    return 0;
  }
  if (!['serve', 'migrate', 'create-user', 'rotate-encryption-key', 'healthcheck'].includes(command)) {
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
  if (command === 'healthcheck') {
    const problem = await checkHealth(config);
    if (problem) process.stderr.write(`coordinator healthcheck: ${problem}\n`);
    return problem ? 1 : 0;
  }
  const logger = createLogger({ level: config.logLevel, name: 'coordinator' });
  try {
    const out = (text: string) => process.stdout.write(text);
    if (command === 'create-user') return await createUserCommand(argv.slice(1), config, env, logger, out);
    if (command === 'rotate-encryption-key') return await rotateEncryptionKeyCommand(config, logger, out);
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
