#!/bin/sh
# Entry point of the executor image: trusts mounted CA certificates, then runs `executor <command>`
# (`run` when none is given), or any other program named as the command (`sh`, `git`, …).
#
# Custom certificates, either way (README, Deploy):
#   - the seed's: a directory mounted over /etc/ssl/certs (docker `-v /path/to/certs:/etc/ssl/certs`, or a
#     Kubernetes secret mounted there read-only);
#   - Debian's: *.crt files mounted into /usr/local/share/ca-certificates.
# Every certificate found there that is not Debian's own goes through update-ca-certificates into a bundle of
# Debian's roots plus them, written under $EXECUTOR_CA_DIR (default /tmp/executor-ca), never into the mounted
# directory (it may be read-only, or the host's own). SSL_CERT_FILE, GIT_SSL_CAINFO and CURL_CA_BUNDLE then
# name that bundle for the executor and every program it starts. The executor itself also reads every file
# in /etc/ssl/certs directly (src/executor/tls/trusted-certificates.ts).
set -eu

say() { printf 'executor-entrypoint: %s\n' "$*" >&2; }

# Whether a directory is a mount of its own in this container (not the image's directory).
is_mounted() { grep -q " $1 " /proc/self/mountinfo 2>/dev/null; }

trust_mounted_certificates() {
  ca_dir=${EXECUTOR_CA_DIR:-/tmp/executor-ca}
  rm -rf "$ca_dir"
  mkdir -p "$ca_dir/local" "$ca_dir/certs"
  etc_mounted=false
  is_mounted /etc/ssl/certs && etc_mounted=true
  count=0
  names=''
  for file in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt /etc/ssl/certs/*; do
    [ -f "$file" ] || continue
    # Debian's store: links into /usr/share/ca-certificates, and the bundle generated from them.
    case "$(readlink -f "$file")" in /usr/share/ca-certificates/*) continue ;; esac
    if [ "$file" = /etc/ssl/certs/ca-certificates.crt ] && [ "$etc_mounted" = false ]; then continue; fi
    grep -q -- '-----BEGIN CERTIFICATE-----' "$file" 2>/dev/null || continue
    count=$((count + 1))
    base=$(basename "$file")
    cp "$file" "$ca_dir/local/$count-${base%.*}.crt"
    names="$names $base"
  done
  if [ "$count" -eq 0 ]; then
    rm -rf "$ca_dir"
    return 0
  fi
  if ! update-ca-certificates --fresh --localcertsdir "$ca_dir/local" --etccertsdir "$ca_dir/certs" >"$ca_dir/update.log" 2>&1; then
    cat "$ca_dir/update.log" >&2
    say "update-ca-certificates failed for the mounted certificates:$names"
    exit 1
  fi
  SSL_CERT_FILE="$ca_dir/certs/ca-certificates.crt"
  GIT_SSL_CAINFO=$SSL_CERT_FILE
  CURL_CA_BUNDLE=$SSL_CERT_FILE
  export SSL_CERT_FILE GIT_SSL_CAINFO CURL_CA_BUNDLE
  say "trusting $count mounted CA certificate file(s):$names (bundle $SSL_CERT_FILE)"
}

trust_mounted_certificates

case "${1:-run}" in
  # The executor's commands (and flags, and future commands: anything that is not a program on PATH).
  run | validate | install | test-vm | help | version | -*) exec executor "$@" ;;
esac
if command -v "$1" >/dev/null 2>&1; then exec "$@"; fi
exec executor "$@"
