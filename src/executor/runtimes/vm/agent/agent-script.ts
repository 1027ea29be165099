// The guest side of the agent: the shell loop `/init` runs as PID 1 in a job's guest (busybox sh), and the
// names both sides share — the virtio-serial ports, the disks' serial numbers, the guest directories, the
// kernel command-line switches. A guest either boots for one job (cold) or boots once to be snapshotted
// and is then restored, once per job, from that snapshot (snapshot/guest-snapshot.ts).
import { READY_MARKER } from '../guest/guest-markers.js';
import { FRESH_START_BYTES, FRESH_START_HELPER_PATH } from '../snapshot/fresh-start.js';
import { UPLINK_GUEST_ADDRESS, UPLINK_GUEST_INTERFACE, UPLINK_PREFIX_LENGTH } from '../uplink/uplink-network.js';

/** Printed by a guest booted for a snapshot as `EXECUTOR-SNAPSHOT-READY <nonce>` on control once it can be saved. */
export const SNAPSHOT_READY_MARKER = 'EXECUTOR-SNAPSHOT-READY';
/**
 * Set (`executor.agent=1`), `/init` does not run one command: it mounts the job's disks and serves the
 * host over virtio-serial ports until told to power off (see {@link AGENT_SCRIPT}).
 */
export const CMDLINE_AGENT = 'executor.agent';
/**
 * Set (`executor.snapshot=1`) with {@link CMDLINE_AGENT}, the agent prepares to be saved instead of mounting
 * disks: it unbinds every disk from its driver (so the saved guest holds no disk's size, partition table or
 * cached block), says {@link SNAPSHOT_READY_MARKER} and waits for `RESUME`.
 */
export const CMDLINE_SNAPSHOT = 'executor.snapshot';
/** Number of disks an agent guest waits for before it reports ready (`executor.disks=<n>`). */
export const CMDLINE_DISKS = 'executor.disks';
/** The virtio-serial port names of an agent guest: requests and replies, and the current step's output. */
export const AGENT_PORTS = { control: 'executor.control', stdout: 'executor.stdout', stderr: 'executor.stderr' } as const;
/** Where the agent mounts the workspace disk, the scratch disk (the steps' writable layers) and the step images. */
export const GUEST_WORK_DIR = '/work';
export const GUEST_SCRATCH_DIR = '/scratch';
export const GUEST_IMAGES_DIR = '/images';
/**
 * The virtio-blk serial numbers (at most 20 characters) the agent finds its disks by: device names
 * (vda, vdb, …) follow probe order, which is not guaranteed to be the command line's. Image slot `i` is
 * `executor-image-<i>`, mounted read-only at `/images/<i>` when the job uses that many images (a restored
 * guest's unused slots hold a placeholder; serials are QEMU's device properties and do not change when
 * a pooled guest's files are swapped).
 */
export const DISK_SERIAL_PREFIX = 'executor-';
export const DISK_SERIALS = { workspace: 'executor-work', scratch: 'executor-scratch', imagePrefix: 'executor-image-' } as const;
/**
 * A step's /dev as the initramfs holds it (null, zero, full, random, urandom, tty; fd, stdin, stdout,
 * stderr links; shm and pts directories): the launcher copies it in with one `cp -a`.
 */
export const STEP_DEV_TEMPLATE_DIR = '/lib/executor-dev';
/** The script a pooled guest's warm-up step runs (WARM), in the workspace root of its tmpfs. */
export const WARM_UP_SCRIPT = 'warm-up.sh';

/**
 * The agent's loop, run by `/init` as PID 1 in an agent guest (`$nonce` and `$disks` come from the kernel
 * command line). It first brings up the uplink's eth0 (uplink/uplink-network.ts), in every guest, so that
 * a guest restored from a snapshot has it too. Its protocol, one line per message on the control port:
 * - guest → host `READY <nonce>` once the disks are mounted and ports open;
 * - host → guest `RUN <id> <token> <base64 of a shell script>`: the script runs with stdout and stderr on
 *   the two output ports; when it ends the guest writes `<token>` between NUL bytes to both output ports (so the host knows
 *   it has all of the step's output: the ports are separate queues) and `EXIT <id> <code>` on control;
 * - host → guest `POWEROFF`: unmount (so the host can read the workspace disk), `BYE`, power off.
 * A guest booted for a snapshot says `SNAPSHOT-READY <nonce>` instead of mounting anything, and then, in
 * each guest restored from it:
 * - host → guest `WARM <base64 of a step launcher>` (warm pool only, before any job): the placeholder disks
 *   are probed, the warm-up image mounted and a step run in it, all undone again, then `WARMED`. Under
 *   emulation this translates the code a job's start runs, once per QEMU process, ahead of the job.
 * - host → guest `RESUME <nonce> <hostname> <images>` and right after it {@link FRESH_START_BYTES} raw
 *   bytes: the helper sets the clock and reseeds the kernel's random number generator from them, the
 *   hostname is set, the job's disks are probed and its first `<images>` image slots mounted, and the
 *   guest says `READY <nonce>` with the new nonce.
 * The guest is the sandbox, not a trusted party: a step runs as root in it and could write anything on
 * these ports; the host treats what arrives as untrusted (bounded lines, strict parsing).
 */
export const AGENT_SCRIPT = `
cd /
blk=/sys/bus/virtio/drivers/virtio_blk
port() {
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/\${p##*/}"; return 0; }
  done
  return 1
}
# Builtins only from here on (each fork costs under emulation): sysfs serial files have no trailing
# newline, so read's status is not looked at.
serial_of() { serial=''; read -r serial <"$1/serial" 2>/dev/null; }
count_disks() {
  found=0
  for b in /sys/block/vd*; do
    serial_of "$b"
    case "$serial" in ${DISK_SERIAL_PREFIX}*) found=$((found + 1)) ;; esac
  done
}
disk() {
  dev=''
  for b in /sys/block/vd*; do
    serial_of "$b"
    [ "$serial" = "$1" ] && { dev="/dev/\${b##*/}"; return 0; }
  done
  return 1
}
wait_disks() {
  waited=0
  count_disks
  until [ $found -ge $disks ]; do
    [ $waited -lt 250 ] || fail "the VM's disks did not appear: expected $disks, found $found"
    sleep 0.02; waited=$((waited + 1)); count_disks
  done
}
bind_disks() {
  for d in /sys/bus/virtio/devices/virtio*; do
    id=''; read -r id <"$d/device"
    [ "$id" = 0x0002 ] && ! [ -e "$d/driver" ] && echo "\${d##*/}" >$blk/bind
  done
}
# Which virtio device holds which disk, learned once in the guest booted for a snapshot (a restored guest
# has the same devices in the same order): "<serial>=<virtio device> …".
disk_map=''
learn_disks() {
  disk_map=''
  for b in /sys/block/vd*; do
    serial_of "$b"
    cd -P "$b/device" && disk_map="$disk_map $serial=\${PWD##*/}"
  done
  cd /
}
# A restored guest binds only the disks its job uses: the workspace, the scratch disk and $1 image slots
# (each probe is ~15 ms of kernel code under emulation; a job with one image skips three).
bind_job_disks() {
  want=" ${DISK_SERIALS.workspace} ${DISK_SERIALS.scratch}"
  i=0
  while [ $i -lt $1 ]; do want="$want ${DISK_SERIALS.imagePrefix}$i"; i=$((i + 1)); done
  [ -n "$disk_map" ] || { bind_disks; return; }
  for entry in $disk_map; do
    case "$want " in *" \${entry%%=*} "*)
      d=/sys/bus/virtio/devices/\${entry#*=}
      [ -e "$d/driver" ] || echo "\${entry#*=}" >$blk/bind ;;
    esac
  done
}
unbind_disks() {
  for d in $blk/virtio*; do [ -e "$d" ] && echo "\${d##*/}" >$blk/unbind; done
}
# Image slots 0 .. $1-1.
mount_images() {
  i=0
  while [ $i -lt $1 ]; do
    [ -d ${GUEST_IMAGES_DIR}/$i ] || mkdir -p ${GUEST_IMAGES_DIR}/$i
    disk ${DISK_SERIALS.imagePrefix}$i && mount -t ext4 -o ro,noload "$dev" ${GUEST_IMAGES_DIR}/$i || fail "cannot mount step image disk ${DISK_SERIALS.imagePrefix}$i"
    i=$((i + 1))
  done
}
# The workspace, the scratch disk and $1 images (the guest has at least that many disks).
mount_job_disks() {
  total=$disks
  disks=$(($1 + 2))
  wait_disks
  disks=$total
  [ -d ${GUEST_SCRATCH_DIR} ] || mkdir -p ${GUEST_WORK_DIR} ${GUEST_SCRATCH_DIR}
  disk ${DISK_SERIALS.workspace} && mount -t ext4 "$dev" ${GUEST_WORK_DIR} || fail "cannot mount the workspace disk at ${GUEST_WORK_DIR}"
  disk ${DISK_SERIALS.scratch} && mount -t ext4 "$dev" ${GUEST_SCRATCH_DIR} || fail "cannot mount the scratch disk at ${GUEST_SCRATCH_DIR}"
  mount_images "$1"
}
# The uplink (uplink/uplink-network.ts): the one network device, on QEMU's restricted user network,
# whose one forwarded address is the executor's proxy to the coordinator's upload routes. The address
# makes the route to its network; there is no default route and no resolver. Up before a snapshot is
# saved, so a restored guest has it as well (its QEMU gives the netdev the job's own socket).
up_uplink() {
  waited=0
  until [ -e /sys/class/net/${UPLINK_GUEST_INTERFACE} ]; do
    [ $waited -lt 250 ] || fail "the VM's network device (${UPLINK_GUEST_INTERFACE}) did not appear"
    sleep 0.02; waited=$((waited + 1))
  done
  ip link set lo up && ip addr add ${UPLINK_GUEST_ADDRESS}/${UPLINK_PREFIX_LENGTH} dev ${UPLINK_GUEST_INTERFACE} && ip link set ${UPLINK_GUEST_INTERFACE} up \\
    || fail "cannot configure ${UPLINK_GUEST_INTERFACE} for the uplink"
}
unmount_all() {
  for m in $(grep -o " ${GUEST_IMAGES_DIR}/[^ ]*" /proc/mounts) ${GUEST_SCRATCH_DIR} ${GUEST_WORK_DIR}; do umount "$m" 2>/dev/null; done
}
waited=0
until ctl=$(port ${AGENT_PORTS.control}) && out=$(port ${AGENT_PORTS.stdout}) && err=$(port ${AGENT_PORTS.stderr}) \\
  && [ -c "$ctl" ] && [ -c "$out" ] && [ -c "$err" ]; do
  [ $waited -lt 250 ] || fail "the VM's virtio-serial ports did not appear: found $(for p in /sys/class/virtio-ports/*; do echo "$(cat "$p/name" 2>/dev/null)"; done | tr '\\n' ' ')"
  sleep 0.02; waited=$((waited + 1))
done
# Steps run with oom_score_adj 0 (their launcher resets it); the agent is the last the OOM killer picks.
echo -1000 >/proc/self/oom_score_adj
exec 3<>"$ctl" 4>"$out" 5>"$err"
up_uplink
if [ -n "$snapshot" ]; then
  # Probed once so the driver's code is in the saved memory, then released: no disk of this boot is
  # known to the guest that is saved.
  wait_disks
  learn_disks
  unbind_disks
  # What a restored guest's start would otherwise make first.
  mkdir -p ${GUEST_WORK_DIR} ${GUEST_SCRATCH_DIR} ${GUEST_IMAGES_DIR}
  echo "${SNAPSHOT_READY_MARKER} $nonce" >&3
else
  # Booted for its job: every image slot holds one of its images.
  mount_job_disks $((disks - 2))
  echo "${READY_MARKER} $nonce" >&3
fi
while read -r verb id token payload <&3; do
  case "$verb" in
    RUN)
      if echo "$payload" | base64 -d >/tmp/step.sh 2>/dev/null; then
        sh /tmp/step.sh </dev/null >&4 2>&5 3<&- 4>&- 5>&-
        code=$?
      else
        echo "executor: the step's launcher did not decode" >&5
        code=255
      fi
      : >/tmp/step.sh
      printf '\\000%s\\000' "$token" >&4
      printf '\\000%s\\000' "$token" >&5
      echo "EXIT $id $code" >&3
      ;;
    RESUME)
      # The ${FRESH_START_BYTES} bytes after this line are the helper's: the clock and a seed.
      ${FRESH_START_HELPER_PATH} <&3 || fail "the restored guest could not set its clock and reseed its random number generator (step $?)"
      nonce="$id"
      echo "$token" >/proc/sys/kernel/hostname
      bind_job_disks "$payload"
      mount_job_disks "$payload"
      echo "${READY_MARKER} $nonce" >&3
      ;;
    WARM)
      bind_disks
      wait_disks
      mkdir -p ${GUEST_WORK_DIR} ${GUEST_SCRATCH_DIR}
      mount -t tmpfs -o size=16m warm ${GUEST_WORK_DIR} && mount -t tmpfs -o size=16m warm ${GUEST_SCRATCH_DIR} || fail "cannot mount the warm-up file systems"
      mount_images 1
      echo true >${GUEST_WORK_DIR}/${WARM_UP_SCRIPT}
      echo "$id" | base64 -d >/tmp/step.sh && sh /tmp/step.sh </dev/null >/dev/null 2>&1 3<&- 4>&- 5>&-
      : >/tmp/step.sh
      unmount_all
      unbind_disks
      echo WARMED >&3
      ;;
    POWEROFF)
      sync
      unmount_all
      grep -q " ${GUEST_WORK_DIR} " /proc/mounts && echo "executor: ${GUEST_WORK_DIR} is busy; not cleanly unmounted"
      echo BYE >&3
      sync
      poweroff -f
      ;;
  esac
done
poweroff -f
`;
