// The uplink: the one network path out of a vm job's guest. Code-intel index jobs end with `src code-intel
// upload` and batch-change jobs with `src batch-helper`, both sending their results from inside the job
// to the coordinator's upload routes with the job's own token; a guest has nothing else to reach.
//
// The guest gets one virtio-net device on QEMU's user network (slirp) with `restrict=on`: slirp then
// forwards nothing the guest sends — no connection to the host, its other addresses or the internet, no
// DNS (slirp's resolver is off in restricted mode), no ICMP beyond slirp's own echo — except connections
// that match a `guestfwd` rule. There is exactly one: TCP to 10.0.2.100:80 runs `socat -lf /dev/null
// STDIO UNIX-CONNECT:<run dir>/uplink.sock` per connection (slirp spawns the command with the connection as its
// stdin and stdout), so each guest connection reaches the job's UNIX socket on the host, where the
// executor's uplink proxy (uplink-proxy.ts) forwards only the upload routes, and only with the job's own
// token, to the coordinator the executor talks to. The socket exists only while the job runs: a guest
// restored or warmed up ahead of its job, and the snapshot's guest, connect to nothing.
//
// The guest's side (agent-script.ts): eth0 at 10.0.2.15/24, no default route, no resolver; steps get
// SRC_ENDPOINT=http://10.0.2.100 in place of the coordinator's URL and no SRC_PROXY (uplinkStepEnv).
//
// The netdev and its rule are on QEMU's command line, also for a restored guest: slirp's migrated state
// holds its open connections only (there are none when a guest is saved), and the forward rules come from
// the restoring QEMU's own command line — each restored guest's socket path is its own run directory's.
// (No import of guest/ here: agent-script.ts uses these constants while the modules load.)
import { AppError } from '../../../../shared/errors.js';

/** The guest's address on the uplink network, and the network (QEMU's user-network default). */
export const UPLINK_GUEST_ADDRESS = '10.0.2.15';
export const UPLINK_NETWORK = '10.0.2.0/24';
export const UPLINK_PREFIX_LENGTH = 24;
/** Where the guest reaches the executor's proxy: the one forwarded address (slirp answers ARP for it). */
export const UPLINK_ADDRESS = '10.0.2.100';
export const UPLINK_PORT = 80;
/** What a step's SRC_ENDPOINT becomes inside the guest. */
export const UPLINK_ENDPOINT = `http://${UPLINK_ADDRESS}`;
/** The proxy's UNIX socket in a guest's run directory. */
export const UPLINK_SOCKET_FILE = 'uplink.sock';
/** The program slirp runs per forwarded connection (Debian's socat package; checked at start). */
export const UPLINK_SOCAT = 'socat';
/** The guest's network interface: the only network device (the kernel names it eth0; no udev renames it). */
export const UPLINK_GUEST_INTERFACE = 'eth0';

/**
 * The QEMU arguments of the uplink: a restricted user network whose only forward goes to
 * `<runDir>/uplink.sock`, and its virtio-net device. Throws `vm.socket_path_unsafe` for a run directory
 * socat or QEMU's option syntax would split (the path is one word of the forward's command).
 */
export function uplinkQemuArgs(socketPath: string): string[] {
  // socat splits its addresses at ':' and ',' and slirp parses the command as shell words.
  if (!/^\/[A-Za-z0-9/_.+-]+$/.test(socketPath)) {
    throw new AppError('vm.socket_path_unsafe', `the VM uplink socket path ${socketPath} has characters socat cannot take in an address (only letters, digits and / _ . + -); use a plainer TMPDIR`);
  }
  const netdev = [
    'user',
    'id=uplink',
    // Nothing but the guestfwd below leaves slirp: no outbound connection, no DNS, no host forward.
    'restrict=on',
    'ipv6=off',
    `net=${UPLINK_NETWORK}`,
    // slirp gives the command the connection as stdin, stdout and stderr: socat's own messages (a job
    // whose proxy is gone, say) go to /dev/null, not to the guest.
    `guestfwd=tcp:${UPLINK_ADDRESS}:${UPLINK_PORT}-cmd:${UPLINK_SOCAT} -lf /dev/null STDIO UNIX-CONNECT:${socketPath}`,
  ];
  // No part holds a comma (QEMU's option separator): the path was checked above.
  return ['-netdev', netdev.join(','), '-device', 'virtio-net-device,netdev=uplink'];
}

/**
 * A step's env as the guest gets it: SRC_ENDPOINT (the coordinator's URL, which the guest cannot reach)
 * replaced by the uplink, SRC_PROXY (a host socket path, meaningless in the guest) dropped; the rest as is.
 */
export function uplinkStepEnv(env: readonly string[]): string[] {
  return env.filter((pair) => !pair.startsWith('SRC_PROXY=')).map((pair) => (pair.startsWith('SRC_ENDPOINT=') ? `SRC_ENDPOINT=${UPLINK_ENDPOINT}` : pair));
}

/** Whether a step's env sets SRC_ENDPOINT (so the step talks to the coordinator, through the uplink). */
export function usesUplink(env: readonly string[] | undefined): boolean {
  return (env ?? []).some((pair) => pair.startsWith('SRC_ENDPOINT='));
}
