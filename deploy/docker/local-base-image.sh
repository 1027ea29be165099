#!/usr/bin/env bash
# Builds a Node.js base image from Debian's own packages, for machines that reach Debian's mirror but no
# container registry (these development and CI machines): Debian's `nodejs` in a `debootstrap
# --variant=minbase` root, turned into an image with `docker import`. `npm run images -- --local-base`
# builds the images FROM it instead of the official node image.
#
# Usage: deploy/docker/local-base-image.sh [TAG]      (default executors-test/node-base:latest)
#   EXECUTORS_BASE_SUITE    Debian suite (default trixie: Debian 13, Node.js 20, the official node:20-trixie-slim's Debian)
#   EXECUTORS_BASE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   EXECUTORS_BASE_REBUILD  1 = build even when an image of the same inputs exists
#
# Cached by its inputs: the image carries the label executors.base-inputs, the SHA-256 of this script, the
# suite, the mirror and the package list; an image with the same label is reused (about 40 s to build
# here, then nothing). Prints the tag on stdout, progress on stderr.
set -euo pipefail

tag=${1:-executors-test/node-base:latest}
suite=${EXECUTORS_BASE_SUITE:-trixie}
mirror=${EXECUTORS_BASE_MIRROR:-http://deb.debian.org/debian}
# nodejs is the point; ca-certificates lets the images' Dockerfiles run apt-get over HTTPS mirrors too.
packages=nodejs,ca-certificates

say() { printf 'local-base-image: %s\n' "$*" >&2; }

inputs=$( { cat "${BASH_SOURCE[0]}"; printf '%s\n' "$suite" "$mirror" "$packages"; } | sha256sum | cut -d' ' -f1)

have=$(docker image inspect --format '{{ index .Config.Labels "executors.base-inputs" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$inputs" ] && [ "${EXECUTORS_BASE_REBUILD:-0}" != 1 ]; then
  say "$tag is up to date (inputs $inputs)"
  echo "$tag"
  exit 0
fi

command -v debootstrap >/dev/null || { say "needs debootstrap: apt-get install -y debootstrap"; exit 1; }
[ "$(id -u)" = 0 ] || { say "debootstrap needs root: run it as root (sudo)"; exit 1; }

# One build at a time on this machine: a second caller waits, then finds the image made.
exec 9>"${TMPDIR:-/tmp}/executors-local-base-image.lock"
flock 9
have=$(docker image inspect --format '{{ index .Config.Labels "executors.base-inputs" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$inputs" ] && [ "${EXECUTORS_BASE_REBUILD:-0}" != 1 ]; then
  say "$tag was built meanwhile (inputs $inputs)"
  echo "$tag"
  exit 0
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/executors-base-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
say "debootstrap --variant=minbase --include=$packages $suite from $mirror (about a minute)"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
  tail -n 30 "$root.log" >&2
  rm -f "$root.log"
  say "debootstrap failed (log above)"
  exit 1
fi
rm -f "$root.log"

# shellcheck disable=SC2016 # ${Version} is dpkg-query's format, not the shell's
node_version=$(chroot "$root" dpkg-query -W -f '${Version}' nodejs)
# What an image does not need: downloaded packages and index files (Dockerfiles run apt-get update).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
# An image's resolver configuration comes from docker at run time.
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

say "docker import as $tag (nodejs $node_version)"
tar -C "$root" --numeric-owner -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change 'CMD ["node"]' \
  --change "LABEL executors.base-inputs=$inputs" \
  --change "LABEL executors.base-nodejs=$node_version" \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase with Debian's nodejs $node_version (deploy/docker/local-base-image.sh)\"" \
  - "$tag" >/dev/null
echo "$tag"
