#!/bin/sh
# `npm run step-image -- [--label KEY=VALUE]... [TAG] [NAME=value]...`: a small step image for jobs
# where no registry is reachable. A root filesystem of Debian's static busybox (`sh` and the usual
# tools; no bash, no git), imported into the local docker daemon as TAG (default executors/busybox:1),
# with PATH=/bin and each NAME=value as its ENV. Jobs name TAG as their step image: the docker runtime
# runs it as it is, the vm runtime converts it from the daemon. Does nothing when TAG exists.
#
# Safe to run several times at once (the test suite does): each run imports under a name of its own and
# only then tags it, so a race never leaves an untagged image behind.
set -eu

labels=""
while [ $# -gt 0 ] && [ "$1" = "--label" ]; do
  case "${2:-}" in *=*) ;; *) echo "step-image: --label needs KEY=VALUE" >&2; exit 2 ;; esac
  case "$2" in *" "*) echo "step-image: --label $2: no spaces, please" >&2; exit 2 ;; esac
  labels="$labels $2"
  shift 2
done
tag=executors/busybox:1
if [ $# -gt 0 ]; then
  case "$1" in *=*) ;; *) tag=$1; shift ;; esac
fi
for pair in "$@"; do
  case "$pair" in *=*) ;; *) echo "step-image: $pair: expected NAME=value (an ENV of the image)" >&2; exit 2 ;; esac
done

command -v docker >/dev/null || { echo "step-image: docker is not installed (apt-get install -y docker.io)" >&2; exit 1; }
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "step-image: the docker daemon does not answer: start it (dockerd) or set DOCKER_HOST" >&2
  exit 1
fi
if docker image inspect --format '{{.Id}}' "$tag" >/dev/null 2>&1; then
  echo "step-image: $tag exists already"
  exit 0
fi

busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
  [ -x "$candidate" ] || continue
  # ldd says "not a dynamic executable" (and fails) for a static binary; a dynamic one would not run
  # in an image without its libraries.
  if command -v ldd >/dev/null && ldd "$candidate" >/dev/null 2>&1; then continue; fi
  busybox=$candidate
  break
done
[ -n "$busybox" ] || { echo "step-image: needs a statically linked busybox: apt-get install -y busybox-static" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/step-image-XXXXXX")
temporary="executors-step-image-import:$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
root="$work/root"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
# Debian's busybox lists itself among its applets: skip it, or bin/busybox would become a link to itself.
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar -C "$root" -cf "$work/root.tar" .

# "$@" holds the NAME=value pairs: each becomes a --change ENV, each label a --change LABEL.
count=$#
for pair in "$@"; do
  # Dockerfile syntax: the value quoted, so it may hold spaces; \ and " escaped inside the quotes.
  value=$(printf '%s' "${pair#*=}" | sed 's/[\\"]/\\&/g')
  set -- "$@" --change "ENV ${pair%%=*}=\"$value\""
done
shift "$count"
for label in $labels; do set -- "$@" --change "LABEL $label"; done
docker import --change "ENV PATH=/bin" "$@" "$work/root.tar" "$temporary" >/dev/null
# Another run may have made $tag meanwhile: then ours goes; else ours takes the tag. Either way the
# temporary name goes, and no image is left without a name.
if ! docker image inspect --format '{{.Id}}' "$tag" >/dev/null 2>&1; then
  docker tag "$temporary" "$tag"
fi
docker rmi "$temporary" >/dev/null
echo "step-image: built $tag ($(docker image inspect --format '{{.Id}}' "$tag"))"
