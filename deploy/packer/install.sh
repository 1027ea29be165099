#!/usr/bin/env bash
# Run by Packer (executor.pkr.hcl) on the machine the image is made from, as root: docker and git, the
# release binary, then `executor install all --power-off-on-exit` (the vm runtime's packages, the guest
# kernel and initramfs, the step images in EXECUTOR_VM_PRELOAD_IMAGES, and the systemd unit that powers
# the instance off after a clean exit). The unit is not enabled here: the instance's startup script
# writes its environment file first, then enables and starts it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates git docker.io
systemctl enable docker

install -m 0755 /tmp/executor /usr/local/bin/executor
rm -f /tmp/executor
/usr/local/bin/executor --version

# Without the coordinator's settings: install needs none of them.
/usr/local/bin/executor install all --power-off-on-exit

# A machine image starts with no job history and no package lists.
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/install.sh
