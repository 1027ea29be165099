// Loading CA certificates from the system places (or SSL_CERT_FILE / SSL_CERT_DIR): files and
// directories, duplicates once, junk skipped, and a description that names every place searched.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../../../test/helpers/test-ca.js';
import { certificateSearchPath, loadTrustedCertificates, SYSTEM_CA_DIRS, SYSTEM_CA_FILES } from './trusted-certificates.js';

describe('trusted certificates', () => {
  let dir: string;
  let ca: TestCa;
  let other: TestCa;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trusted-certs-'));
    ca = await createTestCa(path.join(dir, 'ca1'));
    other = await createTestCa(path.join(dir, 'ca2'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('searches the seed\'s files and directories, or SSL_CERT_FILE and SSL_CERT_DIR instead', () => {
    expect(certificateSearchPath({})).toEqual({ files: SYSTEM_CA_FILES, dirs: SYSTEM_CA_DIRS });
    expect(SYSTEM_CA_FILES[0]).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(SYSTEM_CA_DIRS).toContain('/etc/ssl/certs');
    expect(certificateSearchPath({ SSL_CERT_FILE: '/x/ca.pem', SSL_CERT_DIR: '/a:/b:' })).toEqual({ files: ['/x/ca.pem'], dirs: ['/a', '/b'] });
  });

  it('reads every certificate of every file and directory once, skipping junk and what is missing', async () => {
    const caPem = await fs.readFile(ca.caCertFile, 'utf8');
    const otherPem = await fs.readFile(other.caCertFile, 'utf8');
    const bundle = path.join(dir, 'bundle.pem');
    await fs.writeFile(bundle, `# a comment\n${caPem}\n${otherPem}`);
    const certsDir = path.join(dir, 'certs');
    await fs.mkdir(certsDir);
    await fs.writeFile(path.join(certsDir, 'again.crt'), caPem);
    await fs.writeFile(path.join(certsDir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await fs.writeFile(path.join(certsDir, 'README'), 'not a certificate');
    const emptyDir = path.join(dir, 'empty');
    await fs.mkdir(emptyDir);
    const trusted = loadTrustedCertificates({ files: ['/nonexistent/ca.crt', bundle], dirs: [certsDir, emptyDir, '/nonexistent-dir'] });
    expect(trusted.pems).toHaveLength(2);
    expect(trusted.foundIn).toEqual([bundle, certsDir]);
    expect(trusted.searched).toEqual(['/nonexistent/ca.crt', bundle, certsDir, emptyDir, '/nonexistent-dir']);
    expect(trusted.describe()).toBe(
      `trusted: Node's bundled roots and 2 certificate(s) from ${bundle}, ${certsDir}; searched /nonexistent/ca.crt, ${bundle}, ${certsDir}, ${emptyDir}, /nonexistent-dir`,
    );
  });

  it('says when none of the places held a certificate', () => {
    const trusted = loadTrustedCertificates({ files: ['/nonexistent/ca.crt'], dirs: [] });
    expect(trusted.pems).toEqual([]);
    expect(trusted.describe()).toContain('0 certificate(s) from none of the searched places; searched /nonexistent/ca.crt');
  });
});
