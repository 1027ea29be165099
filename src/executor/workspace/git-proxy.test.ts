import { describe, expect, it } from 'vitest';
import { isRepositoryPath } from './git-proxy.js';

describe('isRepositoryPath', () => {
  it('accepts the repository smart-HTTP paths and refuses others', () => {
    expect(isRepositoryPath('/github.com/acme/app/info/refs?service=git-upload-pack', 'github.com/acme/app')).toBe(true);
    expect(isRepositoryPath('/github.com/acme/app/git-upload-pack', 'github.com/acme/app')).toBe(true);
    expect(isRepositoryPath('/github.com/acme/other/info/refs', 'github.com/acme/app')).toBe(false);
    expect(isRepositoryPath('/github.com/acme/app-2/info/refs', 'github.com/acme/app')).toBe(false);
    expect(isRepositoryPath('/github.com/acme/app', 'github.com/acme/app')).toBe(false);
    expect(isRepositoryPath('/github.com/acme/app/../other/info/refs', 'github.com/acme/app')).toBe(false);
    expect(isRepositoryPath('/github.com/acme/app/%2e%2e/other/info/refs', 'github.com/acme/app')).toBe(false);
    expect(isRepositoryPath('/github.com/acme/app/%zz', 'github.com/acme/app')).toBe(false);
  });
});
