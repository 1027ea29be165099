// The CA certificates the executor trusts besides Node's bundled roots: those in the system locations the
// original (Go's crypto/x509) searches, listed in the seed's "Using custom certificates" table. Node does
// not read the system store on its own, so a CA an operator added to /etc/ssl/certs would otherwise be
// ignored. SSL_CERT_FILE and SSL_CERT_DIR replace the file and directory lists, as they do for Go.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Bundle files, in the seed's order (Go's `certFiles` on Linux). */
export const SYSTEM_CA_FILES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian/Ubuntu/Gentoo etc.
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora/RHEL 6
  '/etc/ssl/ca-bundle.pem', // OpenSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS/RHEL 7
  '/etc/ssl/cert.pem', // Alpine Linux
];

/** Directories whose every file may hold certificates (Go's `certDirectories` on Linux). */
export const SYSTEM_CA_DIRS: readonly string[] = [
  '/etc/ssl/certs', // SLES10/SLES11
  '/etc/pki/tls/certs', // Fedora/RHEL
  '/system/etc/security/cacerts', // Android
];

/** Where to look: the system lists, or what SSL_CERT_FILE / SSL_CERT_DIR (`:`-separated) say instead. */
export interface CertificateSearchPath {
  files: readonly string[];
  dirs: readonly string[];
}

/** The search path for an environment: each variable, when set and not empty, replaces its list. */
export function certificateSearchPath(env: { SSL_CERT_FILE?: string; SSL_CERT_DIR?: string }): CertificateSearchPath {
  return {
    files: env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : SYSTEM_CA_FILES,
    dirs: env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(':').filter(Boolean) : SYSTEM_CA_DIRS,
  };
}

export interface TrustedCertificates {
  /** Distinct certificates found (PEM), for `ca` next to Node's roots. */
  readonly pems: readonly string[];
  /** The files and directories searched, in order. */
  readonly searched: readonly string[];
  /** Those that held at least one certificate. */
  readonly foundIn: readonly string[];
  /** One line for an error message: what was searched and what was found. */
  describe(): string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** A bundle or certificate larger than this is not read: no CA bundle comes near it. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Reads every certificate in every file and every regular file (or link to one) of every directory of
 * `search`, skipping what is missing, unreadable or not a certificate. Synchronous: it runs once at start.
 */
export function loadTrustedCertificates(search: CertificateSearchPath): TrustedCertificates {
  const byFingerprint = new Map<string, string>();
  const foundIn: string[] = [];
  const readCertificates = (file: string): number => {
    let text: string;
    try {
      const stat = fs.statSync(file);
      if (!stat.isFile() || stat.size > MAX_FILE_BYTES) return 0;
      text = fs.readFileSync(file, 'latin1');
    } catch {
      return 0;
    }
    let count = 0;
    for (const match of text.matchAll(PEM_CERTIFICATE)) {
      try {
        const certificate = new X509Certificate(match[0]);
        byFingerprint.set(certificate.fingerprint256, match[0]);
        count++;
      } catch {
        // Not a certificate OpenSSL can parse: skipped, as Go's AppendCertsFromPEM does.
      }
    }
    return count;
  };
  for (const file of search.files) {
    if (readCertificates(file) > 0) foundIn.push(file);
  }
  for (const dir of search.dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    let count = 0;
    for (const name of names) count += readCertificates(path.join(dir, name));
    if (count > 0) foundIn.push(dir);
  }
  const pems = [...byFingerprint.values()];
  const searched = [...search.files, ...search.dirs];
  return {
    pems,
    searched,
    foundIn,
    describe: () =>
      `trusted: Node's bundled roots and ${pems.length} certificate(s) from ${foundIn.length > 0 ? foundIn.join(', ') : 'none of the searched places'}; searched ${searched.join(', ')}`,
  };
}
