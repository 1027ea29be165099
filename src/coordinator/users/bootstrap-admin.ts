// The first site admin: with COORDINATOR_ADMIN_TOKEN set, the user `admin` exists and that token acts as
// it, so a fresh coordinator can be administered (and more users created) before anyone signed up.
import type { Logger } from '../../shared/logger.js';
import { AppError } from '../../shared/errors.js';
import type { UserRow, UserStore } from '../store/user-store.js';

export const BOOTSTRAP_ADMIN_USERNAME = 'admin';

/** The `admin` user, created as a site admin if missing (two replicas starting at once both get it). */
export async function ensureBootstrapAdmin(users: UserStore, logger: Logger): Promise<UserRow> {
  const existing = await users.getByName(BOOTSTRAP_ADMIN_USERNAME);
  if (existing) {
    if (!existing.siteAdmin) logger.warn(`the user ${BOOTSTRAP_ADMIN_USERNAME} is not a site admin; COORDINATOR_ADMIN_TOKEN acts as it with its rights`);
    return existing;
  }
  try {
    const created = await users.create({ username: BOOTSTRAP_ADMIN_USERNAME, siteAdmin: true });
    logger.info('created the bootstrap site admin; COORDINATOR_ADMIN_TOKEN acts as it', { username: BOOTSTRAP_ADMIN_USERNAME });
    return created;
  } catch (err) {
    if (err instanceof AppError && err.code === 'users.name_taken') return (await users.getByName(BOOTSTRAP_ADMIN_USERNAME))!;
    throw err;
  }
}
