#!/usr/bin/env bash
# Startup script of the docker mirror instance: Debian's docker-registry as a pull-through cache of Docker
# Hub on port 5000, its data on the attached volume mounted at /mnt/registry. Idempotent (runs every boot).
set -euo pipefail

# The data volume: the one disk that is neither the root disk nor partitioned (its name depends on the
# instance family: /dev/xvdf or /dev/nvme1n1). It may take a moment to be attached after boot.
data_disk=''
for _ in $(seq 1 60); do
  root_disk=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")
  data_disk=$(lsblk -dpno NAME,TYPE | awk -v root="/dev/$root_disk" '$2 == "disk" && $1 != root { print $1; exit }')
  [ -n "$data_disk" ] && break
  sleep 5
done
if [ -z "$data_disk" ]; then
  echo "docker-mirror: no data volume attached" >&2
  exit 1
fi
if ! blkid "$data_disk" >/dev/null 2>&1; then
  mkfs.ext4 -q -L registry "$data_disk"
fi
mkdir -p /mnt/registry
grep -q ' /mnt/registry ' /etc/fstab || echo "LABEL=registry /mnt/registry ext4 defaults,nofail 0 2" >>/etc/fstab
mountpoint -q /mnt/registry || mount /mnt/registry

export DEBIAN_FRONTEND=noninteractive
command -v docker-registry >/dev/null || { apt-get update -q && apt-get install -y -q docker-registry; }
chown -R docker-registry:docker-registry /mnt/registry

cat >/etc/docker/registry/config.yml <<'CONFIG'
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /mnt/registry
  delete:
    enabled: true
http:
  addr: :5000
proxy:
  remoteurl: https://registry-1.docker.io
CONFIG

systemctl enable docker-registry
systemctl restart docker-registry
