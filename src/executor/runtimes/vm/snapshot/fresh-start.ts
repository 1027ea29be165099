// What makes each guest restored from one snapshot a guest of its own: the moment it is resumed, the host
// hands it the real time and 64 bytes from its own CSPRNG, and a tiny static helper in the initramfs sets
// the clock and reseeds the kernel's random number generator with them before any step runs. Without it
// every guest restored from a snapshot would produce the same "random" numbers (measured here: the same
// /dev/urandom bytes, /proc/sys/kernel/random/uuid and boot_id in two restored guests) and start with the
// clock of the moment the snapshot was saved. Writing to /dev/urandom alone is not enough: since Linux
// 5.18 that only mixes into the input pool, and the generator reseeds from it on its own schedule; the
// RNDRESEEDCRNG ioctl reseeds now (what Firecracker's "random for clones" advice does after a restore).
// busybox has no applet for either ioctl nor sets the clock below a second, hence the helper: 173 bytes of
// code, assembled from FRESH_START_ASSEMBLY below (the test checks the bytes against it).
import crypto from 'node:crypto';

/** Where the initramfs holds the helper. */
export const FRESH_START_HELPER_PATH = '/bin/executor-fresh-start';

/** What the helper reads on stdin: a struct timespec (16), then a struct rand_pool_info with a 64-byte seed (72). */
export const FRESH_START_BYTES = 88;
const SEED_BYTES = 64;

/**
 * The helper's source (GNU as, x86-64 Linux): read 88 bytes from stdin, clock_settime(CLOCK_REALTIME) from
 * the first 16, then on /dev/urandom ioctl RNDADDENTROPY (0x40085203) with the rest and RNDRESEEDCRNG
 * (0x5207). Exit status 0, or the number of the step that failed: 1 read, 2 clock, 3 open, 4 add, 5 reseed.
 * Built with `as -o h.o h.s && ld -static -nostdlib -n -s -o h h.o`: one read-only, executable segment.
 */
export const FRESH_START_ASSEMBLY = `	.text
	.globl	_start
_start:
	sub	$88, %rsp
	xor	%ebx, %ebx
1:	xor	%eax, %eax
	xor	%edi, %edi
	lea	(%rsp,%rbx), %rsi
	mov	$88, %edx
	sub	%ebx, %edx
	syscall
	mov	$1, %edi
	test	%rax, %rax
	jle	9f
	add	%rax, %rbx
	cmp	$88, %rbx
	jb	1b
	mov	$227, %eax
	xor	%edi, %edi
	mov	%rsp, %rsi
	syscall
	mov	$2, %edi
	test	%rax, %rax
	jnz	9f
	mov	$2, %eax
	lea	path(%rip), %rdi
	mov	$1, %esi
	syscall
	mov	$3, %edi
	test	%rax, %rax
	js	9f
	mov	%rax, %r12
	mov	$16, %eax
	mov	%r12, %rdi
	mov	$0x40085203, %esi
	lea	16(%rsp), %rdx
	syscall
	mov	$4, %edi
	test	%rax, %rax
	jnz	9f
	mov	$16, %eax
	mov	%r12, %rdi
	mov	$0x5207, %esi
	syscall
	mov	$5, %edi
	test	%rax, %rax
	jnz	9f
	xor	%edi, %edi
9:	mov	$60, %eax
	syscall
path:	.asciz	"/dev/urandom"
`;

/** The helper: FRESH_START_ASSEMBLY assembled and linked as said there (504 bytes). */
export const FRESH_START_HELPER = Buffer.from(
  'f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAADgBAAAAAAAAAAAAAEAAOAAB' +
    'AEAAAwACAAEAAAAFAAAAeAAAAAAAAAB4AEAAAAAAAHgAQAAAAAAArQAAAAAAAACtAAAAAAAAAAEA' +
    'AAAAAAAASIPsWDHbMcAx/0iNNBy6WAAAACnaDwW/AQAAAEiFwH54SAHDSIP7WHLcuOMAAAAx/0iJ' +
    '5g8FvwIAAABIhcB1WbgCAAAASI09VAAAAL4BAAAADwW/AwAAAEiFwHg8SYnEuBAAAABMiee+A1II' +
    'QEiNVCQQDwW/BAAAAEiFwHUbuBAAAABMiee+B1IAAA8FvwUAAABIhcB1AjH/uDwAAAAPBS9kZXYv' +
    'dXJhbmRvbQAALnNoc3RydGFiAC50ZXh0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAsAAAABAAAABgAAAAAAAAB4AEAAAAAA' +
    'AHgAAAAAAAAArQAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAwAAAAAAAAAAAAAA' +
    'AAAAAAAAAAAlAQAAAAAAABEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAA',
  'base64',
);

/**
 * The helper's input for a guest resumed now: the wall clock (ms precision: what Date gives) and a fresh
 * seed, credited as 512 bits of entropy.
 */
export function freshStartPayload(nowMs: number = Date.now(), seed: Buffer = crypto.randomBytes(SEED_BYTES)): Buffer {
  if (seed.length !== SEED_BYTES) throw new Error(`freshStartPayload: the seed must be ${SEED_BYTES} bytes`);
  const payload = Buffer.alloc(FRESH_START_BYTES);
  const seconds = Math.floor(nowMs / 1000);
  payload.writeBigInt64LE(BigInt(seconds), 0);
  payload.writeBigInt64LE(BigInt(Math.floor((nowMs - seconds * 1000) * 1e6)), 8);
  payload.writeInt32LE(SEED_BYTES * 8, 16);
  payload.writeInt32LE(SEED_BYTES, 20);
  seed.copy(payload, 24);
  return payload;
}
