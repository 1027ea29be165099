// Users for tests: made by a site admin with a password, signed in for an API token.
import { randomBytes } from 'node:crypto';
import { AdminApi } from './api-client.js';

export interface TestUser {
  id: number;
  username: string;
  password: string;
  /** The admin API as this user (their API token). */
  api: AdminApi;
  token: string;
}

/** Creates `username` (with `-<random>` appended when `unique`) through `admin` and signs it in. */
export async function createTestUser(admin: AdminApi, username: string, options: { siteAdmin?: boolean } = {}): Promise<TestUser> {
  const password = `${username}-${randomBytes(8).toString('hex')}`;
  const created = await admin.post('/api/v1/users', { username, password, siteAdmin: options.siteAdmin ?? false });
  if (created.status !== 201) throw new Error(`creating user ${username} failed: ${created.status} ${created.text}`);
  const login = await new AdminApi(admin.baseUrl, '').post('/api/v1/tokens', { username, password });
  if (login.status !== 201) throw new Error(`signing in as ${username} failed: ${login.status} ${login.text}`);
  return { id: created.json.id, username, password, token: login.json.token, api: new AdminApi(admin.baseUrl, login.json.token) };
}
