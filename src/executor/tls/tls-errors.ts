// Which TLS failures are a configuration problem (an untrusted CA, a wrong host name, an expired
// certificate, plain HTTP where HTTPS was configured) rather than a network hiccup worth retrying.
/** OpenSSL's certificate verification results as Node reports them in `err.code`. */
const VERIFICATION_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Whether `err` (from a request's 'error' event) means TLS cannot work with this configuration: a
 * certificate that does not verify, or an OpenSSL protocol error such as `ERR_SSL_WRONG_VERSION_NUMBER`
 * (an https URL pointed at a plain HTTP server).
 */
export function isTlsConfigurationError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return VERIFICATION_CODES.has(code) || code.startsWith('ERR_SSL_');
}
