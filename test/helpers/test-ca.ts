// A certificate authority made by the test with the openssl CLI, and a server certificate it signed for
// 127.0.0.1 and localhost: what an operator with a private CA has.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  /** The CA certificate (PEM file): what the executor must trust. */
  caCertFile: string;
  /** The server's certificate and key (PEM files), for COORDINATOR_TLS_CERT_FILE / _KEY_FILE. */
  serverCertFile: string;
  serverKeyFile: string;
}

/** Makes a CA and a server certificate for 127.0.0.1 / localhost in `dir` (created). */
export async function createTestCa(dir: string): Promise<TestCa> {
  await fs.mkdir(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=Executors Test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
  await fs.writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.crt'));
  return { caCertFile: f('ca.crt'), serverCertFile: f('server.crt'), serverKeyFile: f('server.key') };
}
