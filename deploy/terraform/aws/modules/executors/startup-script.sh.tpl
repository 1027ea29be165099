#!/usr/bin/env bash
# Startup script of an executor instance, rendered by the Terraform module (templatefile) into the
# instance's user data (AWS) or startup-script metadata (GCP); it runs at every boot. The machine image
# (deploy/packer) holds the executor and its systemd unit (`executor install all --power-off-on-exit`):
# this writes the unit's environment file from the module's variables and starts the unit. Every value
# arrives base64-encoded, so no value (a password, a JSON auth config) can break the script.
set -euo pipefail

env_file=/etc/systemd/system/executor.env

# One line of the env file, NAME="value", quoted the way systemd's EnvironmentFile and a shell both read it.
env_line() {
  local value
  # shellcheck disable=SC2016 # the sed expression is meant literally: it escapes \ " $ and `
  value=$(printf '%s' "$2" | base64 -d | tr '\n' ' ' | sed -e 's/[\\"$`]/\\&/g')
  printf '%s="%s"\n' "$1" "$value"
}

# A private CA (the module's private_ca_cert_path) is trusted by the executor, which reads /etc/ssl/certs,
# and by git, curl and docker on the host.
private_ca_cert='${private_ca_cert}'
if [ -n "$private_ca_cert" ]; then
  mkdir -p /usr/local/share/ca-certificates
  printf '%s' "$private_ca_cert" | base64 -d >/usr/local/share/ca-certificates/private_ca_cert.crt
  update-ca-certificates
fi

# The docker-mirror module's registry, for the host's docker daemon (the docker runtime's pulls).
docker_registry_mirror='${docker_registry_mirror}'
if [ -n "$docker_registry_mirror" ] && command -v dockerd >/dev/null; then
  mkdir -p /etc/docker
  printf '{"registry-mirrors": ["%s"]}\n' "$(printf '%s' "$docker_registry_mirror" | base64 -d)" >/etc/docker/daemon.json
  systemctl restart docker
fi

# A local SSD for job workspaces (GCP's use_local_ssd): TMPDIR in the env file points at it.
scratch_disk='${scratch_disk}'
if [ -n "$scratch_disk" ]; then
  mkdir -p /mnt/executor-scratch
  if ! mountpoint -q /mnt/executor-scratch; then
    blkid "$scratch_disk" >/dev/null 2>&1 || mkfs.ext4 -q -F "$scratch_disk"
    mount "$scratch_disk" /mnt/executor-scratch
  fi
fi

umask 077
{
  echo "# Written at boot by the Terraform module's startup script (README: Deploy, Terraform)."
%{ for name, value in environment ~}
  env_line ${name} '${value}'
%{ endfor ~}
} >"$env_file.new"
mv "$env_file.new" "$env_file"

systemctl daemon-reload
systemctl enable executor
systemctl restart executor
