import { startCoordinator } from './lib/coordinator-process.js';
import { createScratchDatabase } from './lib/scratch-database.js';
const database = await createScratchDatabase('pgbench');
const c = await startCoordinator({ databaseUrl: database.url });
await c.stop();
console.log(database.name);
